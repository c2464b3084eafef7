// Layering: no import cycles anywhere in the sources, the probes, the tests or the benchmarks, and
// nothing the agent ships (src/, probes/) imports from test/: simulators the demo uses live in src/sim/.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cycles, importGraph } from './helpers/import-graph.ts';

const ROOT = join(import.meta.dirname, '..');
const graph = importGraph(ROOT, ['src', 'probes', 'test', 'bench']);

describe('import layering', () => {
  it('reads the whole tree, including type-only and dynamic imports', () => {
    expect(graph.get('src/cli.ts')).toContain('probes/registry.ts');
    expect(graph.get('src/server/app.ts')).toContain('src/server/agent-view.ts'); // `import type`
    expect(graph.get('src/cli.ts')).toContain('src/demo/run.ts'); // `await import(...)`
  });

  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['d.ts']],
      ['e.ts', ['a.ts']],
    ]);
    expect(cycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts'], ['d.ts']]);
  });

  it('src/ and probes/ never import from test/ (tests beside a kind, *.test.ts, may)', () => {
    const offending = [...graph].flatMap(([file, targets]) =>
      /^(src|probes)\//.test(file) && !file.endsWith('.test.ts') ? targets.filter((t) => t.startsWith('test/')).map((t) => `${file} -> ${t}`) : [],
    );
    expect(offending).toEqual([]);
  });
});
