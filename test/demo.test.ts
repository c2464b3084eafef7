// The README's first command: the demo tells the whole incident on a compressed clock and ends by
// itself. Asserts the story's order (ticket before the migration, then a flip, the page naming the
// cause, the flush, recovery, redelivery, reconciliation clean) and the closing timeline, exit 0.
// With Debian's prometheus + prometheus-alertmanager installed the page is a real Alertmanager
// notification (required under HOOKWATCH_REQUIRE_DAEMONS=1).
import { describe, expect, it } from 'vitest';
import { runDemo } from '../src/demo/run.ts';
import { missingBinaries } from './helpers/daemons.ts';
import { runCli } from './helpers/agent-process.ts';

const noAlerting = missingBinaries('prometheus', 'prometheus-alertmanager');

describe('embedded demo', () => {
  it('tells the incident in order, ends by itself with exit 0 and a timeline', async () => {
    const lines: string[] = [];
    const started = Date.now();
    // --keep: the printed config works with `once` and `redeliver`, and the run log pages have content.
    const stop = new AbortController();
    const kept: Record<string, unknown> = {};
    let storyEnd = 0;
    const code = await runDemo({
      listenAddress: '127.0.0.1:0',
      out: (s) => lines.push(s),
      alerting: !noAlerting,
      keep: true,
      stop: stop.signal,
      onKept: ({ configFile, base }) => {
        storyEnd = Date.now();
        void (async () => {
          try {
            kept.once = await runCli(['once', '--config.file', configFile, '--format', 'json']);
            kept.redeliver = await runCli(['redeliver', '--config.file', configFile, '--probe', 'btcpay-delivery', '--since', '1h']);
            const status = (await (await fetch(`${base}/status`)).json()) as { probes: Array<{ name: string }> };
            kept.logs = await Promise.all(
              status.probes.map(async (p) => ((await (await fetch(`${base}/probe/${p.name}/log?format=json`)).json()) as { lines: unknown[] }).lines.length),
            );
            kept.page = await (await fetch(`${base}/`)).text();
          } finally {
            stop.abort();
          }
        })();
      },
    });
    const seconds = (storyEnd - started) / 1000;
    const once = kept.once as { code: number; stdout: string; stderr: string };
    expect(once.stderr).toBe('');
    const onceProbes = (JSON.parse(once.stdout) as { probes: Array<{ name: string; ok: boolean; severity: string | null }> }).probes;
    expect(onceProbes.map((p) => p.name).sort()).toEqual([
      'btcpay-delivery',
      'btcpay-paid-latency',
      'internal-dns',
      'internal-reconcile',
      'internal-synthetic',
    ]);
    expect(onceProbes.find((p) => p.name === 'internal-dns')?.severity).toBe('ticket');
    const redeliver = kept.redeliver as { code: number; stdout: string };
    expect(redeliver.code, redeliver.stdout).toBe(0);
    expect(redeliver.stdout).toMatch(/^DRY RUN/);
    for (const n of kept.logs as number[]) expect(n).toBeGreaterThan(0);
    expect(kept.page).toMatch(/No outage; 1 ticket/);
    const text = lines.join('\n');
    expect(code, text).toBe(0);
    expect(seconds).toBeLessThan(180);
    const at = (re: RegExp) => {
      const i = lines.findIndex((l) => re.test(l));
      expect(i, `${re} in\n${text}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const order = [
      at(/internal-dns\s+START→FAIL\s+TICKET\s+hooks\.pay\.test: .*hands out TTL 17\d{4}s but the authoritative TTL is 10s/),
      at(/2\. Migration: the receiver moves 127\.0\.0\.2 -> 127\.0\.0\.3/),
      at(/internal-synthetic\s+OK→FAIL\s+PAGE/),
      // Alertmanager pages on the drift breaking deliveries before it outlasts the TTL (the agent's escalation);
      // without Alertmanager the agent's escalation is the page.
      ...(noAlerting
        ? [at(/internal-dns\s+TICKET→PAGE hooks\.pay\.test: .*stale answer/), at(/3\. The page \(from the agent/)]
        : [
            at(/3\. The page \(Alertmanager -> pager receiver\): \[PAGE\] HookwatchDNSDrift/),
            at(/internal-dns\s+TICKET→PAGE hooks\.pay\.test: .*stale answer/),
          ]),
      at(/likely root cause of: .*internal-synthetic/),
      at(/Do now: .*unbound-control flush hooks\.pay\.test/),
      at(/4\. The flush/),
      at(/internal-dns\s+FAIL→OK|Recovery: DNS in sync/),
      at(/\$ hookwatch redeliver --config\.file \S+ --probe btcpay-delivery --since 10m --pending 5s$/),
      at(/\$ hookwatch redeliver .* --apply$/),
      at(/6\. All clear: reconciliation clean/),
      at(/^Timeline/),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    if (!noAlerting)
      expect(text).toMatch(/Inhibited by the drift \(firing in Prometheus, not sent\): .*Hookwatch(SyntheticWebhookFailing|WebhookDeliverySuccessLow)/);
    // The timeline: T, then the first flip, the page, the flush, recovery and all clear, in that order.
    const tl = lines.slice(order.at(-1)! + 1);
    const plus = (re: RegExp) => Number(new RegExp(`^\\s+T\\+(\\d+\\.\\d)s\\s+${re.source}`).exec(tl.find((l) => re.test(l)) ?? '')?.[1]);
    const figures = [/first probe flip/, /page: /, /flush/, /recovered/, /all clear/].map(plus);
    for (const f of figures) expect(f, tl.join('\n')).toBeGreaterThanOrEqual(0);
    expect([...figures].sort((a, b) => a - b)).toEqual(figures);
    expect(tl.find((l) => /page: /.test(l))).toMatch(/HookwatchDNSDrift on hooks\.pay\.test|internal-dns/);
    // Transitions and the timeline, not snapshots: the output stays short.
    expect(lines.length).toBeLessThan(80);
    expect(text).not.toMatch(/Story incomplete/);
  }, 200_000);
});
