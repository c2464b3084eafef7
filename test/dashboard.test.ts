// The Grafana dashboard as on-call uses it: every panel says what it shows, every query is scoped to
// the selected job and instance, "All" matches only real values (.+), it links to the agent's status
// page and to runbooks that exist, and it is not editable by default. The chart ships the same file.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/agent-process.ts';

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  targets?: Array<{ expr: string }>;
  links?: Array<{ title: string; url: string }>;
}
const FILE = join(ROOT, 'alerts', 'grafana', 'hookwatch-dashboard.json');
const dash = JSON.parse(readFileSync(FILE, 'utf8')) as {
  editable: boolean;
  panels: Panel[];
  links: Array<{ title: string; url: string }>;
  templating: { list: Array<{ name: string; type: string; allValue?: string; includeAll?: boolean }> };
  annotations: { list: Array<{ expr?: string }> };
};
const panels = dash.panels.filter((p) => p.type !== 'row');

describe('Grafana dashboard', () => {
  it('is not editable by default', () => {
    expect(dash.editable).toBe(false);
  });

  it('describes every panel', () => {
    expect(panels.length).toBeGreaterThan(15);
    for (const p of panels) expect(p.description?.length ?? 0, `${p.id} ${p.title}`).toBeGreaterThan(20);
  });

  it('filters every query by job and instance', () => {
    const exprs = [
      ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
      ...dash.annotations.list.filter((a) => a.expr).map((a) => ({ where: 'annotation', expr: a.expr! })),
    ];
    expect(exprs.length).toBeGreaterThan(20);
    for (const { where, expr } of exprs) {
      // Each selector of a series (hookwatch metrics, recording rules, up, ALERTS) carries both matchers.
      for (const [sel] of expr.matchAll(/(?:hookwatch_\w+|probe(?:_host)?:[\w:]+|\bup|\bALERTS)\{[^}]*\}/g)) {
        expect(sel, `${where}: ${expr}`).toContain('job=~"$job"');
        expect(sel, `${where}: ${expr}`).toContain('instance=~"$instance"');
      }
      expect(expr, `${where}: a bare series without a selector`).not.toMatch(/(hookwatch_\w+|probe:[\w:]+)(?![\w{:])/);
    }
  });

  it('uses .+ for "All", so a variable never matches an empty label (store excepted: single-store series have none)', () => {
    const vars = dash.templating.list.filter((v) => v.type === 'query');
    expect(vars.map((v) => v.name)).toEqual(expect.arrayContaining(['job', 'instance', 'probe', 'store']));
    // The store label exists only on multi-store probes' series; "All" must still show single-store probes.
    for (const v of vars) if (v.includeAll) expect(v.allValue, v.name).toBe(v.name === 'store' ? '.*' : '.+');
  });

  it('links to the agent status page and to runbooks that exist', () => {
    const urls = dash.links.map((l) => l.url);
    expect(urls).toEqual(expect.arrayContaining(['${agent_url}/', '${agent_url}/status']));
    expect(dash.templating.list.some((v) => v.name === 'agent_url')).toBe(true);
    const runbooks = [...dash.links, ...panels.flatMap((p) => p.links ?? [])].map((l) => /\/runbooks\/(\w+)$/.exec(l.url)?.[1]).filter((x): x is string => !!x);
    expect(new Set(runbooks).size).toBeGreaterThan(6);
    for (const r of runbooks) expect(existsSync(join(ROOT, 'alerts', 'runbooks', `${r}.md`)), r).toBe(true);
    for (const p of panels)
      expect(
        p.links?.some((l) => l.url.includes('/runbooks/')),
        p.title,
      ).toBe(true);
  });

  it('is the same file the Helm chart ships', () => {
    expect(readFileSync(join(ROOT, 'helm', 'hookwatch', 'files', 'hookwatch-dashboard.json'), 'utf8')).toBe(readFileSync(FILE, 'utf8'));
  });
});
