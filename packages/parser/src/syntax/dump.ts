/**
 * BuildKit's `Node.Dump()`: the s-expression text of upstream's `testfiles/<case>/result`.
 */
import { goQuote, goQuoteList, goToLower, goTrimSpace } from './gotext.js';
import type { SyntaxNode, SyntaxTree } from './types.js';

/** `Dump()` of one instruction node, without the surrounding parentheses. */
function dumpInner(node: SyntaxNode): string {
  // ONBUILD chains are dumped innermost first, so deep nesting needs no recursion.
  const chain: SyntaxNode[] = [];
  for (let n: SyntaxNode | undefined = node; n; n = n.sub) chain.push(n);
  let inner = '';
  for (let k = chain.length - 1; k >= 0; k--) {
    const n = chain[k]!;
    let s = goToLower(n.keyword);
    if (n.flags.length > 0) s += ' ' + goQuoteList(n.flags);
    if (n.sub) s += ' (' + inner + ')';
    else for (const a of n.args) s += ' ' + goQuote(a);
    // Go trims each nested dump; it matters only for an instruction with nothing after its keyword.
    inner = goTrimSpace(s);
  }
  return inner;
}

/**
 * One instruction as BuildKit's `Dump()` prints it inside the root: `(keyword ["--flag"] "arg" …)`,
 * with Go's `%q` quoting and ONBUILD nested as `(onbuild (run "x"))`.
 *
 * @example
 * ```ts
 * dumpNode(parseDockerfile('COPY --link a b\n').children[0]); // '(copy ["--link"] "a" "b")'
 * ```
 */
export function dumpNode(node: SyntaxNode): string {
  return '(' + dumpInner(node) + ')';
}

/**
 * The whole tree as BuildKit's `result` files hold it: `root.Dump() + "\n"`, one line per instruction.
 *
 * @example
 * ```ts
 * dumpTree(parseDockerfile('FROM alpine\nCMD ["sh"]\n')); // '(from "alpine")\n(cmd "sh")\n'
 * ```
 */
export function dumpTree(tree: SyntaxTree): string {
  return tree.children.map(dumpNode).join('\n') + '\n';
}
