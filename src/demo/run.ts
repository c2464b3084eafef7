// `hookwatch demo`: the incident this project was built for, told on a compressed clock, all on
// loopback: a simulated BTCPay store sending signed webhooks, the merchant's receiver, an
// authoritative DNS server and the sender's caching resolver that inflates TTLs. The story:
// healthy traffic (TTL inflation already flagged as a ticket), the receiver migrates, the resolver
// keeps the old address, deliveries fail and latency grows, on-call is paged with the cause, the
// flush, recovery, redelivery of what BTCPay gave up on, reconciliation clean, and a timeline.
// The console shows state changes and the timeline only; the status page shows the rest.
// (The simulators live in src/sim/, so the demo and the test suite exercise the very same fakes.)
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { PROBE_KINDS } from '../../probes/registry.ts';
import { asText } from '../as-text.ts';
import { Agent } from '../agent.ts';
import { createLogger } from '../log.ts';
import { PACKAGE_ROOT } from '../package-root.ts';
import { RunLogStore } from '../scheduler/run-log.ts';
import { statusView } from '../server/status.ts';
import { findBinary, startAlerting, type AlertingChain } from './alerting.ts';

const OLD_IP = '127.0.0.2';
const NEW_IP = '127.0.0.3';
const HOST = 'hooks.pay.test';

export interface DemoOptions {
  listenAddress: string;
  out: (s: string) => void;
  /** Leave everything running after the story, until SIGINT/SIGTERM. */
  keep?: boolean;
  /** Use Prometheus + Alertmanager when installed (default true). */
  alerting?: boolean;
  /** Seconds of healthy traffic before the migration (default 12). */
  healthySeconds?: number;
  /** With keep: ends the kept state instead of SIGINT/SIGTERM (tests). */
  stop?: AbortSignal;
  /** With keep: called once everything is left running, with what the printed commands need. */
  onKept?: (k: { configFile: string; base: string; storeUrl: string }) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(f: () => T | undefined | false | Promise<T | undefined | false>, ms: number): Promise<T | undefined> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const v = await f();
    if (v) return v;
    await sleep(200);
  }
  return undefined;
}
/** The first sentence of a reason ("e.g." and host names do not end one). */
const firstSentence = (s: string | null | undefined) => {
  const t = String(s ?? '');
  const m = /^(.+?(?<!\be\.g|\bi\.e)[.!?])\s+(?=[A-Z]|[\w.-]+: )/.exec(t);
  return m ? m[1]! : t;
};

export async function runDemo(opts: DemoOptions): Promise<number> {
  const { out } = opts;
  const { startFakeBtcpay } = await import('../sim/btcpay/index.ts');
  const { startFakeDns } = await import('../sim/dns-server.ts');
  const { startReceiver } = await import('../sim/receiver.ts');
  const t0 = Date.now();
  let faultAt = 0;
  const clock = (at = Date.now()) => {
    const s = Math.round((at - t0) / 1000);
    return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
  };
  const say = (s: string, at?: number) => out(`${clock(at)} ${s}`);
  const missed: string[] = [];

  const webhookSecret = randomBytes(16).toString('hex');
  const dns = await startFakeDns({ zone: 'pay.test', records: [{ name: HOST, type: 'A', ttl: 10, values: [OLD_IP] }], minTtl: 172_800 });
  const receivers = [await startReceiver({ scheme: 'btcpay', secret: webhookSecret, host: OLD_IP })];
  const port = receivers[0]!.port;
  // BTCPay's retry schedule (10 s, 1 min, 10 min x6) 2000x faster: it gives up on an event within ~2 s.
  const btcpay = await startFakeBtcpay({ timeScale: 0.0005, resolver: dns.resolver.address, deliveryTimeoutMs: 1000 });
  const apiKey = btcpay.addApiKey(['btcpay.store.canmodifystoresettings', 'btcpay.store.canmodifyinvoices', 'btcpay.store.cancreateinvoice'], 'hookwatch demo');
  btcpay.createWebhook({ url: `http://${HOST}:${port}/webhook`, secret: webhookSecret, automaticRedelivery: true });

  // The merchant's records: what the receivers processed, as the internal system's payments API.
  const records: Server = createServer((req, res) => {
    const list: Array<{ invoiceId: string; amount?: string; currency?: string }> = [];
    const seen = new Set<string>();
    for (const r of receivers.flatMap((x) => x.received)) {
      if (r.verdict !== 'processed') continue;
      try {
        const body = JSON.parse(r.body) as { type?: string; invoiceId?: string };
        if (body.type === 'InvoiceSettled' && body.invoiceId && !seen.has(body.invoiceId) && !body.invoiceId.startsWith('__test__')) {
          seen.add(body.invoiceId);
          const inv = btcpay.invoices?.get?.(body.invoiceId) as { amount?: string; currency?: string } | undefined;
          list.push({ invoiceId: body.invoiceId, amount: inv?.amount, currency: inv?.currency });
        }
      } catch {
        /* synthetic or malformed bodies are not payments */
      }
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url?.startsWith('/payments') ? list : []));
  });
  await new Promise<void>((r) => records.listen(0, '127.0.0.1', r));

  // Secrets as files, so the printed config works as is with `hookwatch once` and `redeliver`.
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-demo-'));
  const secretFile = (name: string, value: string) => {
    const f = join(dir, name);
    writeFileSync(f, value + '\n');
    chmodSync(f, 0o600);
    return f;
  };
  const fill: Record<string, string> = {
    __RESOLVER__: dns.resolver.address,
    __AUTHORITATIVE__: dns.auth.address,
    __BTCPAY_URL__: btcpay.url,
    __STORE_ID__: btcpay.storeId,
    __RECORDS_URL__: `http://127.0.0.1:${(records.address() as { port: number }).port}`,
    __RECEIVER_PORT__: String(port),
    __API_KEY_FILE__: secretFile('btcpay-api-key', apiKey),
    __WEBHOOK_SECRET_FILE__: secretFile('webhook-secret', webhookSecret),
  };
  let yaml = readFileSync(join(PACKAGE_ROOT, 'probes', 'demo.yaml'), 'utf8');
  for (const [k, v] of Object.entries(fill)) yaml = yaml.split(k).join(v);
  const configFile = join(dir, 'hookwatch.yaml');
  writeFileSync(configFile, yaml);

  // The agent's own state-change lines become the console story; every line stays in the run logs.
  const events: Array<{ at: number; probe: string; to: 'failing' | 'ok'; severity?: string }> = [];
  const escalations: Array<{ at: number; probe: string; severity: string }> = [];
  // Held back until the header is printed, then shown as they happen.
  let held: string[] | undefined = [];
  const show = (line: string, at: number) => (held ? held.push(`${clock(at)} ${line}`) : say(line, at));
  const transitions = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          const at = typeof o.time === 'number' ? o.time : Date.now();
          const name = asText(o.probe).padEnd(20);
          if (o.msg === 'probe failing') {
            events.push({ at, probe: String(o.probe), to: 'failing', severity: String(o.severity) });
            const sev = String(o.severity).toUpperCase().padEnd(6);
            show(`${name} ${String(o.transition).replace('->', '→')}  ${sev} ${firstSentence(o.reason as string)}`, at);
          } else if (o.msg === 'probe severity changed') {
            escalations.push({ at, probe: String(o.probe), severity: String(o.severity) });
            show(`${name} ${String(o.transition).replace('->', '→')} ${firstSentence(o.reason as string)}`, at);
          } else if (o.msg === 'probe recovered') {
            events.push({ at, probe: String(o.probe), to: 'ok' });
            show(`${name} FAIL→OK  after ${String(o.failed_for)}`, at);
          }
        } catch {
          /* not a log object */
        }
      }
      cb();
    },
  });
  const runLogs = new RunLogStore();
  const log = createLogger({ level: 'info', sink: runLogs.sink, destination: transitions });
  const agent = new Agent({ configFile, kinds: PROBE_KINDS, log, runLogs, listenAddress: opts.listenAddress });
  await agent.start();
  const a = agent.address()!;
  const base = `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  out(`hookwatch demo — status page ${base}/  (JSON ${base}/status, metrics ${base}/metrics)`);
  out(`  simulated BTCPay ${btcpay.url}, receiver ${HOST} -> ${OLD_IP}:${port}, authoritative DNS ${dns.auth.address} (TTL 10s),`);
  out(`  sender's resolver ${dns.resolver.address} (inflates every TTL to 2 days, like the incident's)`);

  let chain: AlertingChain | undefined;
  const haveAlerting = opts.alerting !== false && findBinary('prometheus') && findBinary('prometheus-alertmanager');
  if (haveAlerting) {
    try {
      chain = await startAlerting({ dir, root: PACKAGE_ROOT, target: `${a.host}:${a.port}`, runbookBase: `${base}/runbooks/`, configFile });
      out(
        `  Prometheus ${chain.promUrl} (shipped rules, every for: scaled 1m -> 1s),\n` +
          `  Alertmanager ${chain.amUrl} (shipped routes and inhibition; receivers -> a local sink)`,
      );
    } catch (e) {
      out(`  (Prometheus/Alertmanager did not start: ${(e as Error).message}; continuing without them)`);
    }
  } else {
    out("  Alerting chain off: install Debian's prometheus and prometheus-alertmanager (apt-get install prometheus prometheus-alertmanager)");
    out('  to see the real notifications the shipped rules and Alertmanager example send, with inhibition.');
  }

  for (const l of held ?? []) out(l);
  held = undefined;
  let n = 0;
  const payments = setInterval(() => {
    const inv = btcpay.createInvoice({
      amount: (10 + (n++ % 7)).toFixed(2),
      currency: 'USD',
      metadata: { orderId: `demo-${n}` },
      paymentMethod: n % 3 === 0 ? 'lightning' : 'chain',
    });
    btcpay.settleInvoice(inv.id);
  }, 1000);
  const view = () => statusView(agent).probes;
  const probe = (name: string) => view().find((p) => p.name === name);

  out('');
  say('1. Healthy traffic: one paid invoice a second, webhooks delivered.');
  const healthyEnd = t0 + (opts.healthySeconds ?? 12) * 1000;
  const allRan = await until(() => view().every((p) => p.ok !== null) && receivers[0]!.received.length > 2, 20_000);
  if (!allRan) missed.push('not every probe ran during the healthy phase');
  const ttl = await until(() => probe('internal-dns')?.severity === 'ticket', 10_000);
  if (ttl) say(`   internal-dns flags the inflated TTL as a TICKET, not an outage (lasting fix on the status page).`);
  else missed.push('TTL inflation ticket');
  await sleep(Math.max(0, healthyEnd - Date.now()));

  out('');
  faultAt = Date.now();
  say(`2. Migration: the receiver moves ${OLD_IP} -> ${NEW_IP} and the record is updated (TTL 10s); the sender's resolver keeps ${OLD_IP}.`);
  receivers.push(await startReceiver({ scheme: 'btcpay', secret: webhookSecret, host: NEW_IP, port }));
  dns.auth.set(HOST, 'A', [NEW_IP]);
  await receivers[0]!.stop();

  // 3. The page on-call gets.
  let pageAt: number | undefined;
  let pageText = '';
  if (chain) {
    const c = chain;
    const page = await until(
      () => c.notifications.find((x) => x.receiver === 'pager' && x.status === 'firing' && x.alerts.some((al) => al.labels.alertname === 'HookwatchDNSDrift')),
      60_000,
    );
    if (page) {
      pageAt = page.at;
      const al = page.alerts.find((x) => x.labels.alertname === 'HookwatchDNSDrift')!;
      pageText = `${al.labels.alertname} on ${al.labels.host}`;
      out('');
      say(
        `3. The page (Alertmanager -> pager receiver): [${al.labels.severity?.toUpperCase()}] ${al.labels.alertname} condition=${al.labels.condition}`,
        page.at,
      );
      out(`     ${al.annotations.summary}`);
      if (al.annotations.action) out(`     action: ${al.annotations.action}`);
      out(`     runbook: ${al.annotations.runbook_url}`);
      // The consequences fire in Prometheus too; Alertmanager holds them back behind the root cause.
      const held = await until(async () => {
        const list = (await c.alerts()).filter((x) => x.status.state === 'suppressed');
        return list.length >= 2 && list;
      }, 15_000);
      const names = [...new Set((held ?? []).map((x) => x.labels.alertname))];
      say(`   Inhibited by the drift (firing in Prometheus, not sent): ${names.join(', ') || 'none yet'}`);
      const sent = [
        ...new Set(
          c.notifications.filter((x) => x.at >= faultAt && x.status === 'firing').flatMap((x) => x.alerts.map((al) => `${x.receiver}:${al.labels.alertname}`)),
        ),
      ];
      say(`   Notifications sent since the migration: ${sent.join(', ')}`);
    } else missed.push('the HookwatchDNSDrift page');
  } else {
    const stale = await until(() => probe('internal-dns')?.severity === 'page' && probe('internal-dns'), 60_000);
    if (stale) {
      pageAt = escalations.find((e) => e.probe === 'internal-dns' && e.severity === 'page' && e.at >= faultAt)?.at ?? Date.now();
      pageText = `internal-dns (page severity) on ${HOST}`;
      out('');
      say('3. The page (from the agent; Alertmanager not installed): internal-dns fails at PAGE severity and explains the others.');
    } else missed.push('internal-dns at page severity');
  }
  // On-call needs a few minutes to act; meanwhile the drift goes stale, latency grows and BTCPay
  // exhausts its retries for the first events (they will need a redelivery).
  const worse = await until(() => probe('internal-dns')?.severity === 'page' && probe('btcpay-paid-latency')?.ok === false, 40_000);
  if (!worse) missed.push('stale drift and growing latency before the flush');
  // On-call reads the page (the status page shows the grouped incident meanwhile).
  await sleep(6000);
  const dnsNow = probe('internal-dns');
  const grouped = view()
    .filter((p) => p.likelyRootCause?.probe === 'internal-dns')
    .map((p) => p.name);
  say(`   Status page ${base}/ shows internal-dns as the likely root cause of: ${grouped.join(', ') || '(none yet)'}`);
  say(`   Do now: ${dnsNow?.action ?? '(no action)'}`);

  // 4. The flush.
  out('');
  const flushAt = Date.now();
  say("4. The flush: on-call flushes the resolver cache (here: the simulated resolver's cache).");
  dns.resolver.flush();
  const recovered = await until(() => {
    const d = probe('internal-dns');
    const s = probe('internal-synthetic');
    return d && s && d.severity !== 'page' && s.ok === true;
  }, 40_000);
  const recoveredAt = recovered ? Date.now() : undefined;
  if (recovered) say('   Recovery: DNS in sync again, the synthetic webhook reaches the new address; new payments are delivered.');
  else missed.push('recovery after the flush');

  // 5. Redeliver what BTCPay gave up on: dry run, then --apply, with the very commands on-call would run.
  await sleep(2000);
  out('');
  say('5. Redeliver what BTCPay gave up on, dry run first:');
  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'hookwatch.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
    });
  const showOutput = (text: string, max = 6) => {
    const lines = text.trimEnd().split('\n');
    for (const l of lines.slice(0, max)) out(`     ${l}`);
    if (lines.length > max) out(`     (${lines.length - max} more lines)`);
  };
  // --pending 5s: on this clock BTCPay's 10-minute retry takes 0.3 s, so a retry older than 5 s is its last.
  const redeliverArgs = ['redeliver', '--config.file', configFile, '--probe', 'btcpay-delivery', '--since', '10m', '--pending', '5s'];
  say(`   $ hookwatch ${redeliverArgs.join(' ')}`);
  showOutput((await cli(redeliverArgs)).stdout);
  say(`   $ hookwatch ${[...redeliverArgs, '--apply'].join(' ')}`);
  const applied = await cli([...redeliverArgs, '--apply']);
  showOutput(applied.stdout);
  const redeliveredAt = Date.now();
  if (applied.code !== 0) missed.push(`redeliver --apply exited ${applied.code}`);

  // 6. Reconciliation clean, every page cleared.
  const clear = await until(() => view().every((p) => p.ok === true || p.severity === 'ticket'), 60_000);
  const clearAt = clear ? Date.now() : undefined;
  out('');
  if (clear) say("6. All clear: reconciliation clean (every paid invoice is in the merchant's records), no probe at page severity.");
  else
    missed.push(
      `all clear (still failing: ${view()
        .filter((p) => p.ok === false && p.severity === 'page')
        .map((p) => p.name)
        .join(', ')})`,
    );
  say(`   Still open: the TTL ticket (${String(probe('internal-dns')?.fix ?? '').split(';')[0]}; ...).`);

  // Timeline.
  const firstFlip = events.find((e) => e.at >= faultAt && e.to === 'failing');
  const rel = (at: number | undefined) => (at === undefined ? 'not reached' : `T+${((at - faultAt) / 1000).toFixed(1)}s`);
  out('');
  out('Timeline (T = the migration; the resolver keeps the old address):');
  out(`  T        ${new Date(faultAt).toISOString()}  fault: ${HOST} moves ${OLD_IP} -> ${NEW_IP}`);
  out(`  ${rel(firstFlip?.at).padEnd(8)} first probe flip: ${firstFlip?.probe ?? '-'}`);
  out(`  ${rel(pageAt).padEnd(8)} page: ${pageText || '-'}`);
  out(`  ${rel(flushAt).padEnd(8)} flush`);
  out(`  ${rel(recoveredAt).padEnd(8)} recovered: DNS in sync, deliveries reach ${NEW_IP}`);
  out(`  ${rel(redeliveredAt).padEnd(8)} redelivered what BTCPay gave up on`);
  out(`  ${rel(clearAt).padEnd(8)} all clear: reconciliation clean`);
  if (missed.length) out(`Story incomplete: ${missed.join('; ')}`);

  if (opts.keep) {
    out('');
    out(`Still running (Ctrl-C to stop). Try: ${base}/  and`);
    out(`  hookwatch once --config.file ${configFile}`);
    out(`  hookwatch redeliver --config.file ${configFile} --probe btcpay-delivery --since 1h`);
    opts.onKept?.({ configFile, base, storeUrl: btcpay.url });
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      opts.stop?.addEventListener('abort', () => resolve(), { once: true });
    });
  }
  clearInterval(payments);
  await chain?.stop();
  await agent.stop();
  await Promise.allSettled([btcpay.close(), dns.stop(), ...receivers.map((r) => r.stop()), new Promise((r) => records.close(r))]);
  rmSync(dir, { recursive: true, force: true });
  return missed.length ? 1 : 0;
}
