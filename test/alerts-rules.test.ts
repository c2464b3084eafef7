// The alerting rules as Prometheus loads them: promtool checks and unit-tests them, and these tests
// make sure the unit tests cover every alert firing and not firing, that every alert carries what
// on-call needs (severity, values, cause, runbook), and that a wrong expectation really fails.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { ROOT } from './helpers/agent-process.ts';
import { CONTRACT_METRICS } from '../src/metrics/definitions.ts';
import { metricDefsOf } from '../src/metrics/run-metrics.ts';
import { PROBE_KINDS } from '../probes/registry.ts';

const ALERTS_DIR = join(ROOT, 'alerts');
const RULES_FILE = join(ALERTS_DIR, 'hookwatch.rules.yml');
const TESTS_DIR = join(ALERTS_DIR, 'tests');
const RUNBOOKS_DIR = join(ALERTS_DIR, 'runbooks');

/** The alert names of the contract (see README: alerts). */
const CONTRACT_ALERTS = [
  'HookwatchWebhookDeliverySuccessLow',
  'HookwatchPaidToDeliveredSlow',
  'HookwatchPaidEventUndelivered',
  'HookwatchSyntheticWebhookFailing',
  'HookwatchSyntheticWebhookStale',
  'HookwatchDNSDrift',
  'HookwatchResolverTTLInflated',
  'HookwatchReconciliationMismatch',
  'HookwatchProbeFailing',
  'HookwatchAgentDown',
];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rulesDoc = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };
const allRules = rulesDoc.groups.flatMap((g) => g.rules);
const alertRules = allRules.filter((r) => r.alert);
const alertNames = [...new Set(alertRules.map((r) => r.alert!))];
const testFiles = readdirSync(TESTS_DIR).filter((f) => f.endsWith('.test.yml'));

function promtool(args: string[], cwd = ALERTS_DIR) {
  const r = spawnSync(bin('promtool'), args, { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('alert rules: structure and content', () => {
  it('defines every contract alert, each with a page or ticket severity', () => {
    for (const name of CONTRACT_ALERTS) expect(alertNames, name).toContain(name);
    // The dead man's switch is the one alert that is neither: it always fires, to a heartbeat receiver.
    for (const r of alertRules) expect(r.alert === 'HookwatchWatchdog' ? ['none'] : ['page', 'ticket'], r.alert).toContain(r.labels?.severity);
    // The post-mortem's pages stay pages.
    const sev = (n: string) => new Set(alertRules.filter((r) => r.alert === n).map((r) => r.labels!.severity));
    for (const n of [
      'HookwatchPaidToDeliveredSlow',
      'HookwatchPaidEventUndelivered',
      'HookwatchSyntheticWebhookFailing',
      'HookwatchSyntheticWebhookStale',
      'HookwatchDNSDrift',
      'HookwatchReconciliationMismatch',
    ]) {
      expect([...sev(n)], n).toEqual(['page']);
    }
    expect([...sev('HookwatchResolverTTLInflated')]).toEqual(['ticket']);
    expect([...sev('HookwatchWebhookDeliverySuccessLow')].sort()).toEqual(['page', 'ticket']);
  });

  it('gives every alert a summary and description with its value, and a runbook that exists', () => {
    for (const r of alertRules) {
      const a = r.annotations ?? {};
      expect(a.summary, r.alert).toBeTruthy();
      expect(a.description, r.alert).toBeTruthy();
      // Values: the alert's own value, or series looked up at notification time (thresholds, TTLs, phases).
      // (Agent-level alerts are binary: up/down, reload ok/failed; their labels say it all.)
      if (!['HookwatchAgentDown', 'HookwatchConfigReloadFailed', 'HookwatchWatchdog'].includes(r.alert!))
        expect(a.summary! + a.description!, r.alert).toMatch(/\$value|\| query/);
      expect(a.runbook_url, r.alert).toBe(`alerts/runbooks/${r.alert}.md`);
      expect(existsSync(join(ROOT, a.runbook_url!)), a.runbook_url).toBe(true);
    }
    // The root-cause page names the host, both TTLs and the resolvers to flush.
    const drift = alertRules.find((r) => r.alert === 'HookwatchDNSDrift')!;
    expect(drift.annotations!.summary).toContain('$labels.host');
    expect(drift.annotations!.description).toMatch(/dns_resolver_ttl_seconds[\s\S]*dns_authoritative_ttl_seconds/);
  });

  it('has runbooks with meaning, confirmation with `hookwatch once`, a fix, verification and customer communication', () => {
    for (const name of alertNames) {
      const md = readFileSync(join(RUNBOOKS_DIR, `${name}.md`), 'utf8');
      expect(md, name).toMatch(new RegExp(`^# ${name}$`, 'm'));
      for (const section of ['## Meaning', '## Fix', '## Verify', '## Tell customers']) expect(md, `${name}: ${section}`).toContain(section);
      expect(md, name).toMatch(/hookwatch (once|check) --config\.file/);
    }
    // The delivery-path runbooks carry the incident's remedy: flush the named resolver, restart the sender, redeliver.
    for (const name of ['HookwatchDNSDrift', 'HookwatchWebhookDeliverySuccessLow', 'HookwatchPaidEventUndelivered', 'HookwatchSyntheticWebhookFailing']) {
      const md = readFileSync(join(RUNBOOKS_DIR, `${name}.md`), 'utf8');
      for (const resolver of ['systemd-resolved', 'unbound', 'dnsmasq', 'nscd']) expect(md, `${name}: ${resolver}`).toContain(resolver);
      expect(md, name).toMatch(/hookwatch redeliver --config\.file \S+ --probe \S+ --since \S+ --apply/);
      expect(md, name).toMatch(/restart/i);
    }
  });

  it('uses only contract metrics, the recording rules it defines, and thresholds the probe kinds export', () => {
    const known = new Set<string>();
    for (const m of [...CONTRACT_METRICS, ...PROBE_KINDS.flatMap((k) => metricDefsOf(k.metrics ?? {}))]) {
      known.add(`hookwatch_${m.name}`);
      if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) known.add(`hookwatch_${m.name}${s}`);
    }
    known.add('hookwatch_config_last_reload_successful');
    // The info gauge the delivery/latency alerts join for `destination`: both BTCPay kinds declare it (src/btcpay/destinations.ts).
    for (const type of ['delivery_rate', 'paid_latency'])
      expect(Object.keys(PROBE_KINDS.find((k) => k.type === type)!.metrics ?? {}), type).toContain('webhook_destination_info');
    const records = new Set(allRules.filter((r) => r.record).map((r) => r.record!));
    const text = allRules.map((r) => `${r.expr}\n${Object.values(r.annotations ?? {}).join('\n')}`).join('\n');
    for (const [name] of text.matchAll(/(?<![:\w])hookwatch_[a-z_]+/g)) expect(known, name).toContain(name);
    for (const [name] of text.matchAll(/\bprobe(?:_host)?:hookwatch_[a-z_:0-9]+/g)) expect(records, name).toContain(name);
    // Every threshold key the rules read is one a probe kind declares (so the core exports it).
    const declared = new Set(PROBE_KINDS.flatMap((k) => Object.keys(k.thresholds ?? {})));
    const used = [...text.matchAll(/threshold="([a-z_]+)"/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(5);
    for (const key of used) expect(declared, key).toContain(key);
  });
});

describe.skipIf(missingBinaries('promtool'))('alert rules: promtool', () => {
  it('passes `promtool check rules`', () => {
    const r = promtool(['check', 'rules', RULES_FILE]);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('passes every `promtool test rules` file', () => {
    expect(testFiles.length).toBeGreaterThanOrEqual(5);
    const r = promtool(['test', 'rules', ...testFiles], TESTS_DIR);
    expect(r.out, r.out.slice(0, 4000)).not.toContain('FAILED');
    expect(r.code, r.out).toBe(0);
    // promtool takes ~15 s of CPU for all files: more than the default timeout on a busy machine.
  }, 120_000);

  it('covers every alert both firing and not firing in the promtool tests', () => {
    const firing = new Set<string>();
    const silent = new Set<string>();
    for (const f of testFiles) {
      const doc = parse(readFileSync(join(TESTS_DIR, f), 'utf8')) as {
        tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: Array<{ exp_labels: Record<string, string> }> }> }>;
      };
      for (const t of doc.tests) {
        for (const a of t.alert_rule_test ?? []) (a.exp_alerts?.length ? firing : silent).add(a.alertname);
      }
    }
    for (const name of alertNames) {
      expect(firing, `${name} firing`).toContain(name);
      // (The watchdog never stops firing: that is its test.)
      if (name !== 'HookwatchWatchdog') expect(silent, `${name} not firing`).toContain(name);
    }
    // Both severities of the delivery alert are exercised, and the inhibition label is asserted.
    const all = testFiles.map((f) => readFileSync(join(TESTS_DIR, f), 'utf8')).join('\n');
    for (const c of ['ratio15m', 'burn_fast', 'burn_slow']) expect(all).toContain(`condition: ${c}`);
    expect(all).toMatch(/destination: shop\.example\.com/);
  });

  it('fails when an expectation is wrong (the tests are not vacuous)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookwatch-promtool-'));
    try {
      const doc = parse(readFileSync(join(TESTS_DIR, 'dns.test.yml'), 'utf8'));
      doc.rule_files = [RULES_FILE];
      // Claim the drift pages with the wrong host: promtool must reject it.
      const firing = doc.tests[0].alert_rule_test.find((a: { exp_alerts: unknown[] }) => a.exp_alerts.length > 0);
      firing.exp_alerts[0].exp_labels.host = 'other.example.com';
      writeFileSync(join(dir, 'wrong.test.yml'), stringify(doc));
      const r = promtool(['test', 'rules', 'wrong.test.yml'], dir);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain('FAILED');
      expect(r.out).toContain('HookwatchDNSDrift');
      // And a rules file whose threshold was silently changed breaks the delivery tests.
      writeFileSync(join(dir, 'rules.yml'), readFileSync(RULES_FILE, 'utf8').replace('* 0 + 0.95', '* 0 + 0.5'));
      const d = parse(readFileSync(join(TESTS_DIR, 'delivery.test.yml'), 'utf8'));
      d.rule_files = ['rules.yml'];
      writeFileSync(join(dir, 'delivery.test.yml'), stringify(d));
      const r2 = promtool(['test', 'rules', 'delivery.test.yml'], dir);
      expect(r2.code).not.toBe(0);
      expect(r2.out).toContain('HookwatchWebhookDeliverySuccessLow');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has a Grafana dashboard whose every query is valid PromQL over known series', () => {
    const dash = JSON.parse(readFileSync(join(ALERTS_DIR, 'grafana', 'hookwatch-dashboard.json'), 'utf8')) as {
      panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
      templating: { list: Array<{ name: string }> };
    };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(20);
    expect(dash.templating.list.map((v) => v.name)).toEqual(expect.arrayContaining(['datasource', 'job', 'instance', 'probe']));
    // A row per probe kind.
    const rows = dash.panels
      .filter((p) => p.type === 'row')
      .map((p) => p.title)
      .join('|');
    for (const kind of ['delivery_rate', 'paid_latency', 'synthetic', 'dns_drift', 'reconcile']) expect(rows).toContain(kind);
    // Grafana variables replaced by valid values, then promtool parses each expression as a rule.
    const dir = mkdtempSync(join(tmpdir(), 'hookwatch-dash-'));
    try {
      const rules = exprs.map((e, i) => ({
        record: `dashboard:panel_${i}`,
        expr: e.expr.replaceAll('$__rate_interval', '5m').replace(/\$(job|instance|probe)\b/g, '.*'),
      }));
      writeFileSync(join(dir, 'dash.rules.yml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = promtool(['check', 'rules', 'dash.rules.yml'], dir);
      expect(r.code, r.out).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const records = new Set(allRules.filter((r) => r.record).map((r) => r.record!));
    for (const { expr } of exprs) for (const [name] of expr.matchAll(/\bprobe(?:_host)?:hookwatch_[a-z_:0-9]+/g)) expect(records, name).toContain(name);
  });
});
