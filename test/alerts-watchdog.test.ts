// The dead man's switch: HookwatchWatchdog always fires (promtool: alerts/tests/watchdog.test.yml), the
// example routes it to the heartbeat receiver only, and nothing inhibits it, even an agent-down alert.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { ROOT } from './helpers/agent-process.ts';

const AM = join(ROOT, 'alerts', 'alertmanager.example.yml');

describe('HookwatchWatchdog', () => {
  it('is an always-firing rule with a runbook', () => {
    const rules = parse(readFileSync(join(ROOT, 'alerts', 'hookwatch.rules.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert?: string; expr: string; for?: string; annotations?: Record<string, string> }> }>;
    };
    const w = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'HookwatchWatchdog')!;
    expect(w.expr.trim()).toBe('vector(1)');
    expect(w.for).toBeUndefined();
    const md = readFileSync(join(ROOT, w.annotations!.runbook_url!), 'utf8');
    expect(md).toMatch(/heartbeat/);
    expect(md).toMatch(/amtool config routes test --config\.file \S+ alertname=HookwatchWatchdog/);
  });

  it('no inhibit rule of the example can silence it', () => {
    const am = parse(readFileSync(AM, 'utf8')) as { inhibit_rules: Array<{ target_matchers: string[] }> };
    for (const r of am.inhibit_rules) {
      const m = r.target_matchers.join(' ');
      // Either the rule targets specific alerts, or it excludes the watchdog explicitly.
      expect(
        /alertname=~?"Hookwatch\.\+"/.test(m)
          ? m.includes('alertname!="HookwatchWatchdog"')
          : !/HookwatchWatchdog/.test(m.replace('alertname!="HookwatchWatchdog"', '')),
        m,
      ).toBe(true);
    }
  });

  it.skipIf(missingBinaries('amtool'))('routes to the heartbeat receiver, and only there', () => {
    const route = (labels: string[]) =>
      spawnSync(bin('amtool'), ['config', 'routes', 'test', '--config.file', AM, ...labels], { encoding: 'utf8' }).stdout.trim();
    expect(route(['alertname=HookwatchWatchdog', 'severity=none'])).toBe('heartbeat');
    expect(route(['alertname=HookwatchDNSDrift', 'severity=page'])).toBe('pager,team-chat');
  });
});
