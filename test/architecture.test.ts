/**
 * The package boundaries of architecture.md, checked on every run: dependencies point one way
 * (builder → cache, builder → parser, everything → errors), the parser is pure (no file system,
 * network, child processes, clock or environment), and packages are only imported through their
 * public entry points.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2])!);
}

const allowed: Record<string, string[]> = {
  errors: [],
  parser: ['@build-image/errors'],
  cache: ['@build-image/errors'],
  builder: ['@build-image/errors', '@build-image/parser', '@build-image/cache'],
};

describe('package boundaries', () => {
  it('sees the imports it checks', () => {
    expect(imports(path.join(root, 'packages/builder/src/solve/build.ts'))).toEqual(expect.arrayContaining(['@build-image/cache', '@build-image/parser', 'node:path']));
  });

  for (const [pkg, deps] of Object.entries(allowed)) {
    it(`${pkg} imports only ${deps.join(', ') || 'no workspace package'}`, () => {
      const offenders: string[] = [];
      for (const file of sources(path.join(root, 'packages', pkg, 'src'))) {
        for (const spec of imports(file)) {
          if (spec.startsWith('@build-image/') && !deps.includes(spec)) offenders.push(`${path.relative(root, file)} → ${spec}`);
          if (spec.includes('/packages/') || /^(\.\.\/){2,}(errors|parser|cache|builder)\//.test(spec)) offenders.push(`${path.relative(root, file)} → ${spec} (reach another package through its name)`);
        }
      }
      expect(offenders).toEqual([]);
    });
  }

  it('the parser is pure: no file system, network, processes, clock or environment', () => {
    const offenders: string[] = [];
    for (const file of sources(path.join(root, 'packages/parser/src'))) {
      const text = readFileSync(file, 'utf8');
      for (const spec of imports(file)) if (spec.startsWith('node:') || ['fs', 'net', 'http', 'https', 'child_process', 'os'].includes(spec)) offenders.push(`${path.relative(root, file)} imports ${spec}`);
      for (const m of text.matchAll(/\b(process\.(env|cwd|argv|platform|arch)|Date\.now\(\)|new Date\(\))/g)) offenders.push(`${path.relative(root, file)} uses ${m[0]}`);
    }
    expect(offenders).toEqual([]);
  });

  it('the cache knows nothing of Dockerfiles, containers or tar', () => {
    const offenders: string[] = [];
    for (const file of sources(path.join(root, 'packages/cache/src'))) {
      for (const spec of imports(file)) if (/tar|runc|dockerfile/i.test(spec)) offenders.push(`${path.relative(root, file)} imports ${spec}`);
    }
    expect(offenders).toEqual([]);
  });
});
