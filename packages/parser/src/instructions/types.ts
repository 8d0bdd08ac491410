/**
 * The typed instruction layer: one union member per Dockerfile 1.x instruction, as BuildKit's
 * `frontend/dockerfile/instructions` package models them. Words are NOT expanded here (the graph
 * does that with the stage's ENV and ARGs), so flag values like `--chown=$UID` stay as written.
 */
import type { SourceLocation } from '@build-image/errors';
import type { Heredoc } from '../syntax/types.js';

/** Exec form (`["a","b"]`, run as is) or shell form (joined text, run through the stage's SHELL). */
export type CommandLine = { form: 'exec'; args: string[] } | { form: 'shell'; script: string };

/** One `key=value` of ENV or LABEL. `legacy` is the old `ENV key value` form (no `=`). */
export interface KeyValue {
  key: string;
  value: string;
  legacy: boolean;
}

/** One name of an ARG, with its default when `=` was written. */
export interface ArgDefinition {
  key: string;
  value?: string;
}

/** A COPY/ADD source written as a heredoc (`COPY <<EOF /dst`): an inline file. */
export interface HeredocSource {
  /** The heredoc name, used as the file name. */
  path: string;
  /** The body, tab-chomped for `<<-`. */
  data: string;
  /** Whether `$VAR` in the body is expanded (false when the terminator was quoted). */
  expand: boolean;
}

/** `--chmod` value: an octal mode or a symbolic mode (`u+x,g=r`), as BuildKit accepts them. */
export type ChmodSpec = { kind: 'octal'; mode: number } | { kind: 'symbolic'; text: string };

/** One CSV field of a `--mount` value, before expansion. `value` is absent for bare keys (`ro`). */
export interface MountField {
  key: string;
  value?: string;
}

/** A `RUN --mount=...` value as written: the raw text and its CSV fields (validated after expansion). */
export interface MountSpec {
  raw: string;
  fields: MountField[];
}

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

/** A RUN mount after expansion and validation, with BuildKit's defaults applied. */
export interface Mount {
  type: MountType;
  /** Stage name/index or image the mount reads from ('' = build context, or scratch for cache/tmpfs). */
  from: string;
  source: string;
  target: string;
  readOnly: boolean;
  /** tmpfs size in bytes (0 = unlimited). */
  sizeLimit: number;
  /** Cache id (cache mounts: defaults to the cleaned target later), secret/ssh id. */
  id: string;
  sharing: CacheSharing | '';
  required: boolean;
  /** Secret mounts: the environment variable to expose the secret as. */
  env?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

/** Durations are in nanoseconds, as Go's time.Duration and the image config store them. */
export type HealthConfig =
  | { kind: 'none' }
  | {
      kind: 'cmd';
      command: CommandLine;
      /** The image config `Test` array: `["CMD", ...]` or `["CMD-SHELL", script]`. */
      test: string[];
      interval: number;
      timeout: number;
      startPeriod: number;
      startInterval: number;
      retries: number;
    };

interface Base {
  /** Where the instruction is (its whole range, continuation lines and heredocs included). */
  location: SourceLocation;
  /** The instruction's source text, trimmed (BuildKit's `String()`, used for history `created_by`). */
  text: string;
  /** The keyword as written (`from`, `Run`), for messages. */
  keywordText: string;
}

export interface FromInstruction extends Base {
  kind: 'FROM';
  /** The base as written (`alpine:$V`, `builder`, `scratch`). */
  image: string;
  /** The stage name, lowercased; undefined when there is no `AS`. */
  stageName?: string;
  /** `--platform` as written (may contain `$BUILDPLATFORM`). */
  platform?: string;
}

export interface RunInstruction extends Base {
  kind: 'RUN';
  command: CommandLine;
  heredocs: Heredoc[];
  mounts: MountSpec[];
  network: NetworkMode;
  security: SecurityMode;
  /** Flag names that were written (`mount`, `network`), as BuildKit's FlagsUsed. */
  flagsUsed: string[];
}

export interface CmdInstruction extends Base {
  kind: 'CMD';
  command: CommandLine;
  heredocs: Heredoc[];
}

export interface EntrypointInstruction extends Base {
  kind: 'ENTRYPOINT';
  /** `ENTRYPOINT []` gives exec form with no args (it clears the entrypoint). */
  command: CommandLine;
  heredocs: Heredoc[];
}

export interface LabelInstruction extends Base {
  kind: 'LABEL';
  labels: KeyValue[];
}

export interface MaintainerInstruction extends Base {
  kind: 'MAINTAINER';
  maintainer: string;
}

export interface ExposeInstruction extends Base {
  kind: 'EXPOSE';
  /** Port words as written, sorted as BuildKit sorts them before expansion. */
  ports: string[];
}

export interface EnvInstruction extends Base {
  kind: 'ENV';
  env: KeyValue[];
}

interface CopyLike extends Base {
  /** Path (or URL, git) sources in order. */
  sources: string[];
  /** Heredoc sources (`COPY <<EOF /x`). */
  heredocSources: HeredocSource[];
  dest: string;
  chown?: string;
  /** Raw `--chmod` text (validated after expansion, see `parseChmod`). */
  chmod?: string;
  link: boolean;
  exclude: string[];
}

export interface AddInstruction extends CopyLike {
  kind: 'ADD';
  /** Only present when `--keep-git-dir` was written. */
  keepGitDir?: boolean;
  checksum?: string;
  /** Only present when `--unpack` was written. */
  unpack?: boolean;
}

export interface CopyInstruction extends CopyLike {
  kind: 'COPY';
  /** `--from` as written: a stage name, a stage index or an image reference. */
  from?: string;
  parents: boolean;
}

export interface VolumeInstruction extends Base {
  kind: 'VOLUME';
  volumes: string[];
}

export interface UserInstruction extends Base {
  kind: 'USER';
  user: string;
}

export interface WorkdirInstruction extends Base {
  kind: 'WORKDIR';
  path: string;
}

export interface ArgInstruction extends Base {
  kind: 'ARG';
  args: ArgDefinition[];
}

export interface OnbuildInstruction extends Base {
  kind: 'ONBUILD';
  /** The trigger text as stored in the image config `OnBuild` (heredoc bodies re-attached). */
  expression: string;
  /**
   * The trigger, typed, when it parses. BuildKit only checks the trigger when a build uses the
   * image as a base, so an invalid trigger is not an error here; `triggerError` says why it failed.
   */
  trigger?: Instruction;
  triggerError?: string;
}

export interface StopsignalInstruction extends Base {
  kind: 'STOPSIGNAL';
  signal: string;
}

export interface HealthcheckInstruction extends Base {
  kind: 'HEALTHCHECK';
  health: HealthConfig;
}

export interface ShellInstruction extends Base {
  kind: 'SHELL';
  shell: string[];
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | EntrypointInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | ShellInstruction;

export type InstructionKind = Instruction['kind'];
