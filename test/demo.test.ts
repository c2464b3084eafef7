// The README's first command: the embedded demo must show real probe results, healthy first (with the
// latent TTL inflation already flagged), then the incident with its cause.
import { describe, expect, it } from 'vitest';
import { runDemo } from '../src/demo/run.ts';

describe('embedded demo', () => {
  it('shows passing probes, the inflated TTL before the migration, then the stale-DNS incident', async () => {
    const lines: string[] = [];
    await runDemo({ listenAddress: '127.0.0.1:0', durationMs: 24_000, summaryEveryMs: 4000, out: (s) => lines.push(s) });
    const text = lines.join('\n');
    expect(text).toMatch(/hookwatch demo: agent on http:\/\/127\.0\.0\.1:\d+\//);
    const [before, after] = text.split('>>> INCIDENT');
    expect(after, text).toBeDefined();
    expect(before).toMatch(/PASS {2}internal-synthetic \(synthetic\)/);
    expect(before).toMatch(/PASS {2}btcpay-delivery \(delivery_rate\)/);
    expect(before).toMatch(/FAIL {2}internal-dns \(dns_drift\)[\s\S]*TTL 17\d{4}s but the authoritative TTL is 30s/);
    expect(after).toMatch(/FAIL {2}internal-synthetic \(synthetic\)[\s\S]*connect_refused[^\n]*127\.0\.0\.2/);
    expect(after).toMatch(/FAIL {2}btcpay-delivery \(delivery_rate\)/);
  }, 60_000);
});
