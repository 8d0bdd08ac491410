/**
 * Build progress as a stream of plain, JSON-serializable events: the library emits them, the CLI
 * renders them (`--progress=plain|tty|json`), and `--progress=json` prints each as one line.
 * The schema is versioned by `v`; fields are only ever added.
 */

/** A step's identity in events: `#N` in plain output. */
export interface StepRef {
  /** 1-based sequence number across the whole build, stable for a given Dockerfile and target. */
  id: number;
  /** Stage name, or its index as text when unnamed. */
  stage: string;
  /** 1-based position within the stage and the stage's step count: `[stage 2/5]`. */
  index: number;
  total: number;
  /** The instruction as BuildKit names the vertex: `RUN apk add curl`. */
  name: string;
  /** Dockerfile line of the instruction. */
  line?: number;
}

export type ProgressEvent =
  | { v: 1; type: 'build-start'; time: number; dockerfile: string; target?: string; platform: string }
  | { v: 1; type: 'step-start'; time: number; step: StepRef }
  | { v: 1; type: 'step-cached'; time: number; step: StepRef; key: string }
  | { v: 1; type: 'step-output'; time: number; step: StepRef; stream: 'stdout' | 'stderr'; text: string }
  | { v: 1; type: 'step-done'; time: number; step: StepRef; durationMs: number; key?: string; miss?: string[]; layer?: { digest: string; size: number } }
  | { v: 1; type: 'step-error'; time: number; step: StepRef; message: string }
  | { v: 1; type: 'log'; time: number; level: 'info' | 'warn'; message: string }
  | {
      v: 1;
      type: 'build-done';
      time: number;
      durationMs: number;
      steps: { run: number; cached: number };
      image?: { digest: string; configDigest: string; size: number };
      outputs: string[];
    };

export type ProgressListener = (event: ProgressEvent) => void;
