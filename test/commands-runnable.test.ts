// Every hookwatch command printed to on-call (alert annotations, runbooks, the migration checklist,
// the demo's config file) is runnable as printed: a real command, the options it has, and
// --config.file wherever the command requires it. Options are read from each command's own --help.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runCli, ROOT } from './helpers/agent-process.ts';

const NEEDS_CONFIG = new Set(['run', 'check', 'once', 'redeliver', 'verify']);

function sources(): Array<{ where: string; text: string }> {
  const out: Array<{ where: string; text: string }> = [];
  const rb = join(ROOT, 'alerts', 'runbooks');
  for (const f of readdirSync(rb)) out.push({ where: `alerts/runbooks/${f}`, text: readFileSync(join(rb, f), 'utf8') });
  out.push({ where: 'docs/migration-checklist.md', text: readFileSync(join(ROOT, 'docs', 'migration-checklist.md'), 'utf8') });
  const rules = parse(readFileSync(join(ROOT, 'alerts', 'hookwatch.rules.yml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert?: string; annotations?: Record<string, string> }> }>;
  };
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    // Templates rendered with plausible values: a label becomes a word, a query result a probe name.
    const text = Object.values(r.annotations ?? {})
      .join('\n')
      .replace(/\{\{ \(\. \| first\)\.Labels\.probe \}\}/g, 'btcpay-delivery')
      .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, l: string) => `label-${l}`);
    if (r.alert) out.push({ where: `rule ${r.alert}`, text });
  }
  return out;
}

function commands(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?<![\w/-])hookwatch ((?:once|check|run|redeliver|verify|schema|demo)\b[^`\n#|]*)/g)) {
    found.push(m[1]!.replace(/[\s.,;:)]+$/, '').trim());
  }
  return found;
}

describe('commands printed for on-call', () => {
  it('exist, use only real options, and carry --config.file where required', async () => {
    const help = new Map<string, string>();
    const all = sources().flatMap((s) => commands(s.text).map((c) => ({ where: s.where, c })));
    expect(all.length).toBeGreaterThan(40);
    for (const { where, c } of all) {
      const [cmd, ...rest] = c.split(/\s+/);
      if (!help.has(cmd!)) help.set(cmd!, (await runCli([cmd!, '--help'])).stdout);
      const h = help.get(cmd!)!;
      expect(h, `${where}: hookwatch ${c}`).toMatch(/^Usage: hookwatch /);
      if (NEEDS_CONFIG.has(cmd!)) expect(c, `${where}: --config.file missing`).toMatch(/--config\.file \S/);
      expect(c, `${where}: placeholder in a command`).not.toMatch(/…|\.\.\.|--config\.file F\b/);
      for (const flag of rest.filter((w) => w.startsWith('--')))
        expect(h, `${where}: hookwatch ${c}: unknown option ${flag}`).toContain(`${flag.split('=')[0]} `);
    }
  }, 60_000);
});
