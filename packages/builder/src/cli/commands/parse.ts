/** `build-image parse --dump FILE`: BuildKit's Node.Dump() of a Dockerfile, byte for byte. */
import { dumpTree, parseDockerfile } from '@build-image/parser';
import * as path from 'node:path';
import { printError } from '../errors.js';
import { parseFlags } from '../flags.js';
import { UsageError, type CommandSpec } from '../io.js';

export const parseCommand: CommandSpec = {
  name: 'parse',
  summary: 'Parse a Dockerfile and print its syntax tree (BuildKit Node.Dump format)',
  usage: 'build-image parse --dump FILE',
  async run(argv, io) {
    const args = parseFlags(argv, [{ name: 'dump', type: 'boolean' }]);
    if (!args.booleans.has('dump')) throw new UsageError('parse needs --dump (the only output format)');
    if (args.positionals.length !== 1) throw new UsageError('parse takes exactly one FILE');
    const file = args.positionals[0]!;
    let text: string;
    try {
      text = await io.readFile(path.resolve(io.cwd, file));
    } catch (e) {
      io.stderr(`error: cannot read ${file}: ${(e as Error).message}\n`);
      return 1;
    }
    try {
      io.stdout(dumpTree(parseDockerfile(text, { file })));
      return 0;
    } catch (e) {
      printError(io, e, text);
      return 1;
    }
  },
};
