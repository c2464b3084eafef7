// The README's first command: the demo tells the whole incident on a compressed clock and ends by
// itself. Asserts the story's order (ticket before the migration, then a flip, the page naming the
// cause, the flush, recovery, redelivery, reconciliation clean) and the closing timeline, exit 0.
// With Debian's prometheus + prometheus-alertmanager installed the page is a real Alertmanager
// notification (required under HOOKWATCH_REQUIRE_DAEMONS=1).
import { describe, expect, it } from 'vitest';
import { runDemo } from '../src/demo/run.ts';
import { missingBinaries } from './helpers/daemons.ts';

const noAlerting = missingBinaries('prometheus', 'prometheus-alertmanager');

describe('embedded demo', () => {
  it('tells the incident in order, ends by itself with exit 0 and a timeline', async () => {
    const lines: string[] = [];
    const started = Date.now();
    const code = await runDemo({ listenAddress: '127.0.0.1:0', out: (s) => lines.push(s), alerting: !noAlerting });
    const seconds = (Date.now() - started) / 1000;
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
        : [at(/3\. The page \(Alertmanager -> pager receiver\): \[PAGE\] HookwatchDNSDrift/), at(/internal-dns\s+TICKET→PAGE hooks\.pay\.test: .*stale answer/)]),
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
    if (!noAlerting) expect(text).toMatch(/Inhibited by the drift \(firing in Prometheus, not sent\): .*Hookwatch(SyntheticWebhookFailing|WebhookDeliverySuccessLow)/);
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
