// The status page in a real browser (Debian's chromium via playwright-core) during a replayed
// incident: simulated authoritative DNS and a TTL-inflating resolver, the receiver migrating, and the
// agent running dns_drift, a signed synthetic webhook and a plain HTTP probe. Asserts what on-call
// reads first (banner, root cause, its consequences, action apart from fix), severity in words, the
// no-JavaScript rendering, local times on hover, WCAG AA contrast, and the log page. Screenshots go
// to test-artifacts/screenshots/ (gitignored; CI keeps them as artefacts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PROBE_KINDS } from '../probes/registry.ts';
import { Agent } from '../src/agent.ts';
import { createLogger } from '../src/log.ts';
import { RunLogStore } from '../src/scheduler/run-log.ts';
import { findBinary, missingBinaries } from './helpers/daemons.ts';
import { ROOT } from './helpers/agent-process.ts';
import { startFakeDns } from '../src/sim/dns-server.ts';
import { startReceiver, type Receiver } from '../src/sim/receiver.ts';

const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');
const HOST = 'hooks.pay.test';
const SECRET = 'page-test-webhook-secret-77a1';

/** WCAG 2.x contrast ratio of two CSS rgb() colours. */
function contrast(fg: string, bg: string): number {
  const lum = (c: string) => {
    const [r, g, b] = (c.match(/[\d.]+/g) ?? [])
      .slice(0, 3)
      .map((x) => Number(x) / 255)
      .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x) as [number, number];
  return (a + 0.05) / (b + 0.05);
}

async function until<T>(f: () => Promise<T | undefined | false>, what: string, ms = 30_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(missingBinaries('chromium'))('status page in Chromium during a replayed incident', () => {
  let browser: Browser;
  let page: Page;
  let agent: Agent;
  let dns: Awaited<ReturnType<typeof startFakeDns>>;
  const receivers: Receiver[] = [];
  let plain: Server;
  let dir: string;
  let base = '';

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    dns = await startFakeDns({ zone: 'pay.test', records: [{ name: HOST, type: 'A', ttl: 2, values: ['127.0.0.2'] }], minTtl: 172_800 });
    receivers.push(await startReceiver({ scheme: 'btcpay', secret: SECRET, host: '127.0.0.2' }));
    plain = createServer((_q, s) => s.end('ok'));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'hw-page-'));
    writeFileSync(join(dir, 'wh'), SECRET);
    const port = receivers[0]!.port;
    writeFileSync(
      join(dir, 'hookwatch.yaml'),
      `global: { interval: 1s, timeout: 900ms, resolver: "${dns.resolver.address}" }
probes:
  - name: website
    type: http
    url: http://127.0.0.1:${(plain.address() as { port: number }).port}/
  - name: receiver-synthetic
    type: synthetic
    interval: 1s
    targets: ["http://${HOST}:${port}/webhook"]
    signing: { scheme: btcpay, secret: { file: ${join(dir, 'wh')} } }
  - name: pay-dns
    type: dns_drift
    authoritative: ["${dns.auth.address}"]
    recordTypes: [A]
    grace: 1s
`,
    );
    const runLogs = new RunLogStore();
    const log = createLogger({ level: 'error', sink: runLogs.sink });
    agent = new Agent({ configFile: join(dir, 'hookwatch.yaml'), kinds: PROBE_KINDS, log, runLogs, listenAddress: '127.0.0.1:0' });
    await agent.start();
    base = `http://127.0.0.1:${agent.address()!.port}`;
    browser = await chromium.launch({ executablePath: findBinary('chromium')!, args: ['--no-sandbox'] });
    page = await (await browser.newContext({ timezoneId: 'America/New_York', locale: 'en-US', viewport: { width: 1200, height: 900 } })).newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await Promise.allSettled([dns?.stop(), ...receivers.map((r) => r.stop()), new Promise((r) => plain?.close(r))]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const status = async () =>
    (await (await fetch(`${base}/status`)).json()) as {
      probes: Array<{
        name: string;
        ok: boolean | null;
        severity: string | null;
        likelyRootCause: { probe: string } | null;
        action: string | null;
        fix: string | null;
      }>;
    };

  it('before the migration: no outage, the inflated TTL is a ticket, spelled out', async () => {
    await until(
      async () => (await status()).probes.every((p) => p.ok !== null) && (await status()).probes.find((p) => p.name === 'pay-dns')?.severity === 'ticket',
      'first runs',
    );
    await page.goto(base + '/');
    const banner = page.locator('.banner').first();
    await expect.poll(() => banner.textContent()).toMatch(/No outage; 1 ticket/);
    expect(await page.locator('.banner.page').count()).toBe(0);
    const dnsCard = page.locator('article[data-probe="pay-dns"]');
    expect(await dnsCard.locator('.badge').textContent()).toBe('◆ TICKET');
    expect(await dnsCard.locator('.fix').textContent()).toMatch(/Lasting fix:.*cache-min-ttl/);
    expect(await dnsCard.locator('.action').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, '1-before-ticket.png'), fullPage: true });
  });

  it('during the incident: banner, root cause first with its consequences, action apart from fix, runbook', async () => {
    // The receiver moves; the record follows; the resolver keeps the old address (inflated TTL).
    receivers.push(await startReceiver({ scheme: 'btcpay', secret: SECRET, host: '127.0.0.3', port: receivers[0]!.port }));
    dns.auth.set(HOST, 'A', ['127.0.0.3']);
    await receivers[0]!.stop();
    await until(async () => {
      const s = await status();
      return (
        s.probes.find((p) => p.name === 'pay-dns')?.severity === 'page' &&
        s.probes.find((p) => p.name === 'receiver-synthetic')?.likelyRootCause?.probe === 'pay-dns'
      );
    }, 'stale drift explaining the synthetic failure');
    // The page refreshes itself: no reload needed.
    await expect
      .poll(() => page.locator('.banner').first().textContent(), { timeout: 15_000 })
      .toMatch(/OUTAGE: 2 probes failing at page severity, 1 likely root cause/);
    const order = await page
      .locator('main h2, main article[data-probe], main tr[data-probe]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-probe') ?? (e.textContent ?? '').trim()));
    expect(order[0]).toMatch(/^Likely root cause: pay-dns \(dns_drift\) on hooks\.pay\.test/);
    expect(order[1]).toBe('pay-dns');
    expect(order[2]).toMatch(/^Caused by it \(1\): receiver-synthetic/);
    expect(order[3]).toBe('receiver-synthetic');
    expect(order.indexOf('website')).toBeGreaterThan(order.indexOf('receiver-synthetic'));
    const root = page.locator('.incident article[data-probe="pay-dns"]');
    expect(await root.locator('.badge').textContent()).toBe('✕ PAGE');
    expect(await root.locator('.meta').textContent()).toMatch(/failing since \d+s ago · last OK never/);
    expect(await root.locator('.action').textContent()).toMatch(
      /^Do now: Flush hooks\.pay\.test from the cache of resolver .*unbound-control flush hooks\.pay\.test/,
    );
    expect(await root.locator('.action').textContent()).not.toMatch(/cache-min-ttl/);
    expect(await root.locator('.fix').textContent()).toMatch(/^Lasting fix: .*cache-min-ttl/);
    expect(await root.locator('.action code').first().textContent()).toBe('unbound-control flush hooks.pay.test');
    const consequence = page.locator('.consequences article[data-probe="receiver-synthetic"]');
    expect(await consequence.locator('.meta').textContent()).toMatch(/failing since \d+s ago · last OK \d+s ago/);
    expect(await consequence.locator('.reason').textContent()).toMatch(/connect_refused/);
    expect(await consequence.locator('.strip .run.page').count()).toBeGreaterThan(0);
    expect(await consequence.locator('.strip .run.ok').count()).toBeGreaterThan(0);
    // Runbook and log links work.
    const rb = await root.locator('a', { hasText: 'runbook' }).getAttribute('href');
    expect(rb).toBe('runbooks/HookwatchDNSDrift');
    expect((await fetch(`${base}/${rb}`)).status).toBe(200);
    // Absolute time on hover, in the viewer's time zone (America/New_York here).
    const title = await root.locator('.meta time').first().getAttribute('title');
    expect(title).toMatch(/E[SD]T/);
    await page.screenshot({ path: join(SHOTS, '2-incident.png'), fullPage: true });

    // WCAG AA: normal text >= 4.5:1 against its background, for every severity style in view.
    const pairs = await page.locator('.banner, .badge, .meta, .action, .fix, .reason, .type, footer').evaluateAll((els) =>
      els.map((e) => {
        let bgEl: Element | null = e;
        let bg = 'rgba(0, 0, 0, 0)';
        while (bgEl && /rgba\(0, 0, 0, 0\)|transparent/.test(bg)) {
          bg = getComputedStyle(bgEl).backgroundColor;
          bgEl = bgEl.parentElement;
        }
        return { cls: e.className, fg: getComputedStyle(e).color, bg: /rgba\(0, 0, 0, 0\)/.test(bg) ? 'rgb(255, 255, 255)' : bg };
      }),
    );
    expect(pairs.length).toBeGreaterThan(8);
    for (const p of pairs) expect(contrast(p.fg, p.bg), `${p.cls}: ${p.fg} on ${p.bg}`).toBeGreaterThanOrEqual(4.5);
  }, 60_000);

  it('reads without JavaScript (and refreshes itself with a meta refresh)', async () => {
    const ctx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1200, height: 900 } });
    const p = await ctx.newPage();
    await p.goto(base + '/');
    expect(await p.locator('.banner').first().textContent()).toMatch(/OUTAGE/);
    expect(await p.locator('noscript').innerHTML()).toMatch(/http-equiv="refresh"/);
    expect(await p.locator('.incident article[data-probe="pay-dns"] .meta time').first().getAttribute('title')).toMatch(/UTC$/);
    await p.screenshot({ path: join(SHOTS, '3-incident-no-js.png'), fullPage: true });
    await ctx.close();
  });

  it('the log page shows time, level, message and fields', async () => {
    await page.goto(`${base}/probe/receiver-synthetic/log`);
    const head = await page.locator('thead th').allTextContents();
    expect(head).toEqual(['time', 'level', 'message', 'fields']);
    const rows = page.locator('tbody tr');
    expect(await rows.count()).toBeGreaterThan(0);
    expect(await page.locator('tbody').textContent()).toMatch(/probe run finished/);
    expect(await page.locator('tbody td.fields').last().textContent()).toMatch(/outcome=failure/);
    await page.screenshot({ path: join(SHOTS, '4-log-page.png'), fullPage: true });
  });

  it('after the flush: recovery shows OK since, the ticket stays open', async () => {
    dns.resolver.flush();
    await page.goto(base + '/');
    await expect.poll(() => page.locator('.banner').first().textContent(), { timeout: 20_000 }).toMatch(/No outage; 1 ticket/);
    expect(await page.locator('tr[data-probe="receiver-synthetic"]').textContent()).toMatch(/OK since \d+s ago/);
    await page.screenshot({ path: join(SHOTS, '5-recovered.png'), fullPage: true });
  }, 40_000);
});
