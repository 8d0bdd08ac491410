import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError } from '../src/errors.js';
import { createBuildGraph } from '../src/graph/index.js';

const dir = path.resolve(process.cwd(), '../shared/conformance/real-world');
const files = readdirSync(dir).filter((f) => f.endsWith('.Dockerfile')).sort();

/** Files BuildKit itself rejects with default arguments, and why. */
const REJECTED: Record<string, { code: string; why: string }> = {
  // `FROM BUG_stage` does not match the stage `bug_stage`: BuildKit looks stages up by the exact text
  // and then fails to parse it as an image ("repository name must be lowercase"), moby/buildkit#2003.
  'GoogleContainerTools__kaniko__integration__dockerfiles__Dockerfile_test_from_multistage_capital.Dockerfile': { code: 'E_REFERENCE', why: 'uppercase stage reference' },
  // `BOGUS nope-nope-nope`: unknown instruction.
  'containers__buildah__tests__bud__unrecognized__Dockerfile.Dockerfile': { code: 'E_UNKNOWN_INSTRUCTION', why: 'unknown instruction' },
  // `FROM ${image}` / `FROM $BASE` with the ARG unset: "base name (${image}) should not be blank".
  'GoogleContainerTools__kaniko__integration__dockerfiles__Dockerfile_test_scratch.Dockerfile': { code: 'E_ARGUMENTS', why: 'blank base name' },
  'containerd__containerd__integration__images__volume-copy-up__Dockerfile_windows.Dockerfile': { code: 'E_ARGUMENTS', why: 'blank base name' },
  // `COPY --from=$X`: "variable expansion is not supported for --from" (BuildKit toCommand).
  'containers__buildah__tests__bud__arg-scope__Containerfile.stage-overrides-header-copy-from.Dockerfile': { code: 'E_FLAG', why: '--from with a variable' },
  'containers__buildah__tests__bud__multi-stage-builds__Dockerfile.arg_in_copy.Dockerfile': { code: 'E_FLAG', why: '--from with a variable' },
  // `--mount=...,z` is a buildah (SELinux) option: "invalid field 'z' must be a key=value pair".
  'containers__buildah__tests__bud__buildkit-mount__Dockerfilemultiplemounts.Dockerfile': { code: 'E_FLAG', why: 'buildah-only mount option z' },
  // `ENV name='a\'b'`: inside single quotes a backslash is literal, so the last quote is unterminated.
  'containers__buildah__tests__conformance__testdata__Dockerfile.env.Dockerfile': { code: 'E_EXPANSION', why: 'unterminated single quote' },
  // `--mount=type=bind,target=.` with no WORKDIR resolves to "/": "invalid mount target".
  'crazy-max__diun__test__dockerfile1__mount__Dockerfile.Dockerfile': { code: 'E_FLAG', why: 'mount target resolves to /' },
  // `FROM docker:${ENGINE_VERSION}-dind` with the ARG unset gives `docker:-dind`: a tag cannot start with '-'.
  'docker__cli__e2e__testdata__engine__Dockerfile.Dockerfile': { code: 'E_REFERENCE', why: 'invalid reference with default args' },
};

describe('real-world Dockerfiles yield a build graph with default args', () => {
  it('has the corpus', () => expect(files.length).toBeGreaterThan(250));
  it.each(files)('%s', (file) => {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const rejected = REJECTED[file];
    if (rejected) {
      expect(() => createBuildGraph(text, { file, buildPlatform: 'linux/amd64' })).toThrow(DockerfileSyntaxError);
      try {
        createBuildGraph(text, { file, buildPlatform: 'linux/amd64' });
      } catch (e) {
        expect((e as DockerfileSyntaxError).code).toBe(rejected.code);
      }
      return;
    }
    const g = createBuildGraph(text, { file, buildPlatform: 'linux/amd64' });
    expect(g.stages.length).toBeGreaterThan(0);
    expect(g.stages[g.stages.length - 1]!.index).toBe(g.target);
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
  });
});
