// `hookwatch verify`: the migration sign-off. A simulated move (authoritative record changed, the
// sender's TTL-inflating resolver still on the old address): not signed off, exit 1, naming the flush;
// after the flush: signed off, exit 0, the inflated TTL reported as a warning. Usage errors exit 2.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/agent-process.ts';
import { startFakeDns } from '../src/sim/dns-server.ts';
import { startReceiver, type Receiver } from '../src/sim/receiver.ts';

const SECRET = 'verify-test-webhook-secret-1d2';
const dir = mkdtempSync(join(tmpdir(), 'hw-verify-'));
let dns: Awaited<ReturnType<typeof startFakeDns>>;
let rx: Receiver;
let cfg = '';

beforeAll(async () => {
  dns = await startFakeDns({ zone: 'pay.test', records: [{ name: 'hooks.pay.test', type: 'A', ttl: 60, values: ['127.0.0.2'] }], minTtl: 86_400 });
  rx = await startReceiver({ scheme: 'btcpay', secret: SECRET, host: '127.0.0.3' });
  writeFileSync(join(dir, 'wh'), SECRET);
  cfg = join(dir, 'hookwatch.yaml');
  writeFileSync(
    cfg,
    `global: { resolver: "${dns.resolver.address}", timeout: 3s }
probes:
  - name: receiver-synthetic
    type: synthetic
    targets: ["http://hooks.pay.test:${rx.port}/webhook"]
    signing: { scheme: btcpay, secret: { file: ${join(dir, 'wh')} } }
  - name: pay-dns
    type: dns_drift
    authoritative: ["${dns.auth.address}"]
    recordTypes: [A]
`,
  );
  // The sender's resolver caches the old address; then the record moves.
  expect((await runCli(['verify', '--config.file', cfg, '--host', 'hooks.pay.test', '--expect', '127.0.0.2'])).stdout).toMatch(/PASS {2}resolver/);
  dns.auth.set('hooks.pay.test', 'A', ['127.0.0.3']);
});
afterAll(async () => {
  await rx.stop();
  await dns.stop();
});

describe('hookwatch verify', () => {
  it('refuses the sign-off while the resolver serves the old address, naming the flush', async () => {
    const r = await runCli(['verify', '--config.file', cfg, '--host', 'hooks.pay.test', '--expect', '127.0.0.3']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^FAIL {2}resolver: 127\.0\.0\.1:\d+ still answers hooks\.pay\.test -> 127\.0\.0\.2, expected 127\.0\.0\.3: flush its cache/);
    expect(lines[1]).toBe('PASS  authoritative: the authoritative servers serve 127.0.0.3');
    expect(r.stdout).toMatch(/^FAIL {2}probe receiver-synthetic \(synthetic\): .*connect_refused/m);
    // pay-dns names no host (it follows the synthetic targets): verify's own resolver check covers it.
    expect(r.stdout).not.toMatch(/probe pay-dns/);
    expect(lines.at(-1)).toMatch(/^NOT SIGNED OFF: hooks\.pay\.test: \d+ check\(s\) failed\.$/);
    // `once` on the same config names the root cause next to the failure it explains.
    const once = await runCli(['once', '--config.file', cfg]);
    expect(once.code).toBe(1);
    expect(once.stdout).toMatch(
      /^FAIL {2}receiver-synthetic \(synthetic\) {2}PAGE .*\n {6}reason: .*connect_refused.*\n {6}root: {3}likely caused by pay-dns, which explains failures delivering to hooks\.pay\.test: fix that first$/m,
    );
  });

  it('signs off after the flush (the test webhook arrives), warning about the inflated TTL; JSON for automation', async () => {
    dns.resolver.flush();
    const before = rx.received.length;
    const r = await runCli(['verify', '--config.file', cfg, '--host', 'hooks.pay.test', '--expect', '127.0.0.3']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^PASS {2}resolver: 127\.0\.0\.1:\d+ answers hooks\.pay\.test -> 127\.0\.0\.3 \(expected 127\.0\.0\.3\)$/m);
    expect(r.stdout).toMatch(/^WARN {2}ttl: .*TTL 86\d{3}s, above the authoritative 60s/m);
    expect(r.stdout).toMatch(/^PASS {2}probe receiver-synthetic \(synthetic\): passes$/m);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('SIGNED OFF: hooks.pay.test is served and reached correctly from the sender.');
    expect(rx.received.length).toBeGreaterThan(before);
    const j = await runCli(['verify', '--config.file', cfg, '--host', 'hooks.pay.test', '--format', 'json']);
    expect(j.code).toBe(0);
    const report = JSON.parse(j.stdout) as { ok: boolean; host: string; checks: Array<{ name: string; ok: boolean }> };
    expect(report).toMatchObject({ ok: true, host: 'hooks.pay.test' });
    expect(report.checks.map((c) => c.name)).toContain('resolver');
  });

  it('fails a host no probe names, and exits 2 on usage errors', async () => {
    const r = await runCli(['verify', '--config.file', cfg, '--host', 'other.pay.test', '--expect', '127.0.0.9']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}probes: no configured probe names other\.pay\.test/);
    expect((await runCli(['verify', '--config.file', cfg])).code).toBe(2);
    expect((await runCli(['verify', '--config.file', cfg, '--host', 'hooks.pay.test', '--expect', 'not-an-ip'])).code).toBe(2);
    expect((await runCli(['verify', '--config.file', join(dir, 'missing.yaml'), '--host', 'x'])).code).toBe(2);
  });
});
