// The layout rules of docs/web.md, checked: features never import each other (app/ composes
// them), shared/ imports no feature, and there are no barrel files.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(process.cwd(), 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : /\.tsx?$/.test(entry.name) ? [join(dir, entry.name)] : [],
  );
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/from '(\.[^']+)'/g)].map((m) => relative(SRC, resolve(dirname(file), m[1]!)));
}

const sources = files(SRC).filter((f) => !f.includes(`${SRC}/testing/`) && !/\.test\.tsx?$/.test(f));

describe('architecture', () => {
  it('features import no other feature', () => {
    const crossings = sources.flatMap((file) => {
      const from = relative(SRC, file).match(/^features\/([^/]+)\//)?.[1];
      if (!from) return [];
      return imports(file)
        .filter((target) => target.startsWith('features/') && !target.startsWith(`features/${from}/`))
        .map((target) => `${relative(SRC, file)} -> ${target}`);
    });
    expect(crossings).toEqual([]);
  });

  it('shared code imports no feature and no app code', () => {
    const crossings = sources
      .filter((file) => relative(SRC, file).startsWith('shared/'))
      .flatMap((file) => imports(file).filter((t) => /^(features|app)\//.test(t)).map((t) => `${relative(SRC, file)} -> ${t}`));
    expect(crossings).toEqual([]);
  });

  it('has no barrel files', () => {
    expect(sources.filter((file) => /\/index\.tsx?$/.test(file))).toEqual([]);
  });
});
