/**
 * The build graph: plain JSON-serializable data the builder schedules. Every word is already
 * expanded with BuildKit's rules; each step says what environment and ARGs it sees.
 */
import type { SourceLocation } from '@build-image/errors';
import type { Platform } from '../platform.js';
import type { ChmodSpec, Instruction, Mount } from '../instructions/types.js';

/** A platform in both forms. */
export interface ResolvedPlatform extends Platform {
  /** `os/arch[/variant]`. */
  string: string;
}

/** What a stage starts from. */
export type StageBase =
  | {
      kind: 'image';
      /** The FROM reference after global-ARG expansion, as written (`alpine:3.20`). */
      ref: string;
      /** `docker.io/library/alpine:3.20` (default registry, library/ and :latest filled in). */
      normalizedRef: string;
    }
  | { kind: 'stage'; index: number }
  | { kind: 'scratch' };

/** Where a COPY --from or a RUN mount reads from. */
export type StepSource = { kind: 'context' } | { kind: 'stage'; index: number } | { kind: 'image'; ref: string; normalizedRef: string } | { kind: 'scratch' };

export interface GraphMount extends Mount {
  /** The resolved `from` (context for a bind mount without `from`, scratch for cache/tmpfs without `from`). */
  sourceRef: StepSource;
}

export interface Step {
  /** Position in the stage (ONBUILD triggers come first). */
  index: number;
  kind: Instruction['kind'];
  /** The instruction with its words expanded (only where BuildKit expands them). */
  instruction: Instruction;
  location: SourceLocation;
  /** Original text, for history `created_by` and progress. */
  text: string;
  /** True for a trigger injected from the base's ONBUILD. */
  onbuild: boolean;
  /** The image ENV after this step (what the image config will carry). */
  env: Array<[string, string]>;
  /**
   * ARGs in scope after this step, in declaration order, with the value RUN would see
   * (BuildKit's `|N K=V` history prefix: the process env value when set, else the ARG's value).
   */
  args: Array<[string, string]>;
  /** ARG names whose values this step used (for RUN: every declared ARG in scope). */
  usedArgs: string[];
  /** Working directory in effect after this step ('' = unset, the runtime uses /). */
  workdir: string;
  /** USER in effect after this step ('' = root). */
  user: string;
  /** The shell used for shell-form commands after this step. */
  shell: string[];
  /** RUN only: the environment of the process (image ENV, base ENV and ARG values, BuildKit order). */
  runEnv?: Array<[string, string]>;
  /** RUN only: proxy build args, passed without being declared and never written to history. */
  proxyEnv?: Array<[string, string]>;
  /** RUN only: mounts after expansion. */
  mounts?: GraphMount[];
  /** COPY/ADD only: where sources are read from. */
  source?: StepSource;
  /** COPY/ADD with --chmod: the validated mode. */
  chmod?: ChmodSpec;
  /** EXPOSE only: `port/proto` keys. */
  exposedPorts?: string[];
}

export interface GraphStage {
  /** Index in the Dockerfile (kept even when earlier stages are pruned). */
  index: number;
  /** Lowercased `AS` name. */
  name?: string;
  base: StageBase;
  platform: ResolvedPlatform;
  steps: Step[];
  /** Stages this one needs: its base stage, COPY --from and RUN --mount from stages. */
  dependsOn: number[];
  /** Images (not stages) read by COPY --from or RUN --mount from. */
  imageDependencies: string[];
  location: SourceLocation;
  /** The FROM line. */
  text: string;
}

export interface BuildGraph {
  stages: GraphStage[];
  /** Index of the target stage. */
  target: number;
  /** ARGs before the first FROM with their values after build-arg overrides (unset ones omitted). */
  globalArgs: Array<[string, string]>;
  platform: { target: ResolvedPlatform; build: ResolvedPlatform };
  /** Build args nobody declared (BuildKit warns about them). */
  unusedBuildArgs: string[];
  /** The file name used in locations. */
  file: string;
}

/** What the builder knows about a base image's config (from its registry), keyed by the FROM ref. */
export interface ImageConfigInfo {
  env?: string[];
  onBuild?: string[];
  shell?: string[];
  workingDir?: string;
  user?: string;
}

export interface BuildGraphOptions {
  /** File name for locations (default: the tree's, or `Dockerfile`). */
  file?: string;
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** Stage name to build (default: the last stage). */
  target?: string;
  /** Target platform (default: the build platform). */
  platform?: string;
  /** The host platform (default: the target platform, else linux/amd64). */
  buildPlatform?: string;
  /** Base image configs keyed by the expanded FROM reference (see `listBaseImages`). */
  imageConfigs?: Record<string, ImageConfigInfo>;
}

export interface BaseImage {
  ref: string;
  normalizedRef: string;
  /** The FROM --platform after expansion, if given. */
  platform?: string;
  /** Stage index. */
  stage: number;
}
