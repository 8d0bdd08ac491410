/**
 * WORKDIR other than `/`: BuildKit makes the directory (mkdir -p, 0755, owned by the current
 * USER, resolved like --chown) as a file operation, so it is a layer — possibly an empty one when it already exists.
 */
import type { KeyPart } from '@build-image/cache';
import { resolveChown } from '../fileop/chown.js';
import { mkdirAllInRoot } from '../fileop/copy.js';
import type { LayerOp, StepContext } from './solver.js';

/**
 * The WORKDIR step module (for a path other than `/`): a {@link LayerOpFactory} whose key is the path and the USER.
 *
 * @example
 * ```ts
 * const solver = new Solver({ ...options, layerOps: { WORKDIR: workdirStep() } })
 * ```
 */
export function workdirStep() {
  return async (ctx: StepContext): Promise<LayerOp> => {
    const wd = ctx.state.config.config?.WorkingDir ?? '/';
    const user = ctx.state.config.config?.User ?? '';
    const parts: KeyPart[] = [{ type: 'op', value: JSON.stringify({ kind: 'WORKDIR', path: wd, user }) }];
    return {
      parts,
      createdBy: `WORKDIR ${wd}`,
      buildkitSuffix: false,
      run: async (snapshot) => {
        // BuildKit's Mkdir WithUser: the FileOp user rules (a name's primary gid, a number as uid and gid).
        const owner = user ? await resolveChown(snapshot.mergedDir, user) : { uid: 0, gid: 0 };
        await mkdirAllInRoot(snapshot.mergedDir, wd, 0o755, owner);
      },
    };
  };
}
