// The incident end to end, with every part real and on loopback: the DNS lab (nsd + a TTL-inflating
// unbound), the fake BTCPay sending real webhooks through that unbound, `hookwatch run` watching both,
// Prometheus (scrape and evaluation every 1s) with alerts/hookwatch.rules.yml, and Alertmanager with
// the example's routes and inhibit rules, its receivers pointed at a local sink standing in for the pager.
//
// Fault: the receiver moves from 127.0.0.2 to 127.0.0.3 and its record is migrated; the inflating
// resolver keeps serving the old address, so deliveries are refused. Expected: the pager gets
// HookwatchDNSDrift naming the host; the delivery and probe alerts that follow from it fire in
// Prometheus (the delivery alert naming the same host as `destination`) but stay suppressed in Alertmanager. Heal (flush the resolver): resolved notifications.
//
// Test-only change to the rules: every `for:` is scaled from minutes to seconds (rulesWithScaledFor:
// 1m -> 1s, 5m -> 5s), keeping the production order, so the figure measured here is detection + scrape +
// evaluation + routing latency plus the scaled waits, not the production `for:` waits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { missingBinaries } from './helpers/daemons.ts';
import { startAgent, waitFor, type AgentProcess } from './helpers/agent-process.ts';
import { startDnsLab, type DnsLab } from './helpers/dns-lab.ts';
import { incidentConfig } from './helpers/incident.ts';
import { startFakeBtcpay, type FakeBtcpay } from '../src/sim/btcpay/index.ts';
import { TestReceiver } from '../src/sim/btcpay/recording-receiver.ts';
import { amAlerts, RULES_FILE, rulesWithScaledFor, startAlertmanager, startPrometheus, startSink, testAlertmanagerConfig } from './alerts-stack.ts';

const WEBHOOK_SECRET = 'e2e-webhook-secret-4f1c9a';
const DEPENDENT = /^Hookwatch(WebhookDeliverySuccessLow|PaidToDeliveredSlow|PaidEventUndelivered|SyntheticWebhookFailing|SyntheticWebhookStale)$/;

describe.skipIf(missingBinaries('nsd', 'nsd-control', 'unbound', 'unbound-control', 'prometheus', 'prometheus-alertmanager'))(
  'e2e: stale DNS incident pages with the cause',
  () => {
    let lab: DnsLab;
    let fake: FakeBtcpay;
    const oldRx = new TestReceiver();
    const newRx = new TestReceiver();
    let agent: AgentProcess;
    let sink: Awaited<ReturnType<typeof startSink>>;
    let am: Awaited<ReturnType<typeof startAlertmanager>>;
    let prom: Awaited<ReturnType<typeof startPrometheus>>;
    let traffic: NodeJS.Timeout | undefined;
    let dir: string;
    let host: string;
    let apiKey: string;

    const promQuery = async (q: string) => {
      const r = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await r.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      return body.data.result;
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hookwatch-e2e-'));
      lab = await startDnsLab({ fastTtl: 2 });
      host = lab.fastHost;
      // The receiver listens on the record's current address; its new home uses the same port.
      oldRx.host = lab.address(host) ?? '127.0.0.2';
      await oldRx.start();
      newRx.host = '127.0.0.3';
      await newRx.start(oldRx.port);

      fake = await startFakeBtcpay({ timeScale: 0.001, resolver: lab.badResolver, deliveryTimeoutMs: 1000 });
      const key = (apiKey = fake.addApiKey([`btcpay.store.canmodifystoresettings:${fake.storeId}`], 'hookwatch'));
      fake.createWebhook({ url: `http://${host}:${oldRx.port}/btcpay/webhook`, specificEvents: ['InvoiceSettled'] });
      // Steady payments: one settled invoice every 250 ms while the test runs.
      traffic = setInterval(() => {
        const inv = fake.createInvoice({ amount: 10 });
        fake.settleInvoice(inv.id);
      }, 250);

      const config = incidentConfig({ lab, host, receiverPort: oldRx.port, btcpayUrl: fake.url, storeId: fake.storeId });
      writeFileSync(join(dir, 'hookwatch.yaml'), stringify(config));
      agent = await startAgent(join(dir, 'hookwatch.yaml'), { env: { BTCPAY_API_KEY: key, WEBHOOK_SECRET } });

      sink = await startSink();
      // group_wait must cover how much later the cause is confirmed than its consequences: the synthetic probe
      // fails on the first refused connection, dns_drift only after grace_seconds, and with every interval at 1s
      // the consequence can fire a second or two first (in production dns_drift runs far more often than the
      // hourly synthetic probe). At 1s the dependent alert was sometimes notified before HookwatchDNSDrift existed.
      am = await startAlertmanager(testAlertmanagerConfig(sink.url, { group_wait: '3s', group_interval: '2s', repeat_interval: '1h' }));
      prom = await startPrometheus({
        targets: [agent.url],
        alertmanager: am.url,
        rules: { 'hookwatch.rules.yml': rulesWithScaledFor(readFileSync(RULES_FILE, 'utf8')) },
        job: 'hookwatch',
      });
    }, 90_000);

    afterAll(async () => {
      if (traffic) clearInterval(traffic);
      await prom?.stop();
      await am?.stop();
      await sink?.stop();
      await agent?.stop();
      await fake?.close();
      await oldRx.stop();
      await newRx.stop();
      await lab?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('pages HookwatchDNSDrift naming the host, suppresses the consequences, then resolves', async () => {
      // Healthy first: Prometheus sees DNS in sync and successful deliveries. (The DNS probe itself already
      // fails on the inflated TTL: the latent misconfiguration, a ticket, before any migration.)
      await waitFor(async () => (await promQuery('hookwatch_dns_drift{probe="pay-dns"} == 0')).length > 0, {
        timeoutMs: 30_000,
        what: 'dns in sync in Prometheus',
      });
      await waitFor(async () => (await promQuery('ALERTS{alertname="HookwatchResolverTTLInflated",alertstate="firing"}')).length > 0, {
        timeoutMs: 30_000,
        what: 'the TTL inflation ticket',
      });
      await waitFor(async () => (await promQuery('hookwatch_webhook_deliveries_total{probe="btcpay-delivery",outcome="success"} > 3')).length > 0, {
        timeoutMs: 30_000,
        what: 'successful deliveries in Prometheus',
      });
      await waitFor(async () => (await promQuery('probe:hookwatch_threshold:stale_after_seconds{probe="receiver-synthetic"} == 10')).length > 0, {
        timeoutMs: 30_000,
        what: 'the synthetic stale_after_seconds threshold from the YAML in Prometheus',
      });
      expect(await promQuery('ALERTS{alertname="HookwatchDNSDrift"}')).toEqual([]);

      // Fault: the receiver moves and its record is migrated; the inflating resolver keeps the old address.
      await oldRx.stop();
      const t0 = Date.now();
      await lab.migrate(host, newRx.host);

      const pagedDrift = () =>
        sink.notifications.find(
          (n) => n.receiver === 'pager' && n.status === 'firing' && n.alerts.some((a) => a.labels.alertname === 'HookwatchDNSDrift' && a.labels.host === host),
        );
      const page = await waitFor(pagedDrift, { timeoutMs: 60_000, intervalMs: 100, what: 'the HookwatchDNSDrift page' });
      const secondsToPage = (page.at - t0) / 1000;
      const alert = page.alerts.find((a) => a.labels.alertname === 'HookwatchDNSDrift')!;
      expect(alert.labels).toMatchObject({ severity: 'page', host, destination: host, probe: 'pay-dns' });
      expect(alert.annotations.summary).toContain(host);
      // Either condition may page first (breaking_deliveries within the TTL, or stale past TTL + grace); both name the TTLs.
      expect(['breaking_deliveries', 'stale']).toContain(alert.labels.condition);
      expect(alert.annotations.description).toMatch(/authoritative TTL 2s/);
      expect(alert.annotations.description).toMatch(/resolver TTL \d{4,}s/i);
      expect(alert.annotations.description).toMatch(/inflates TTLs/);
      expect(alert.annotations.runbook_url).toBe('alerts/runbooks/HookwatchDNSDrift.md');

      // The consequences fire in Prometheus but Alertmanager keeps them from the pager.
      await waitFor(async () => (await promQuery('ALERTS{alertname="HookwatchWebhookDeliverySuccessLow",alertstate="firing"}')).length > 0, {
        timeoutMs: 60_000,
        what: 'the delivery alert firing in Prometheus',
      });
      const dependents = await waitFor(
        async () => {
          const firing = (await promQuery('ALERTS{alertstate="firing"}')).map((r) => r.metric).filter((m) => DEPENDENT.test(m.alertname!));
          const inAm = await amAlerts(am.url);
          const states = firing.map((m) =>
            inAm.find((a) => a.labels.alertname === m.alertname && a.labels.probe === m.probe && (a.labels.condition ?? '') === (m.condition ?? '')),
          );
          return states.length > 0 && states.every((s) => s) ? states.map((s) => s!) : undefined;
        },
        { timeoutMs: 30_000, what: 'dependent alerts known to Alertmanager' },
      );
      // Both are silenced by the precise rule (same `destination` host): the synthetic alert derives it from
      // its target URL, the delivery alert joins it from hookwatch_webhook_destination_info (the webhook's host).
      await waitFor(
        async () => (await promQuery(`ALERTS{alertname="HookwatchSyntheticWebhookFailing",alertstate="firing",destination="${host}"}`)).length > 0,
        {
          timeoutMs: 30_000,
          what: 'the synthetic alert firing in Prometheus',
        },
      ).catch(async (e: Error) => {
        throw new Error(
          `${e.message}; synthetic series: ${JSON.stringify(await promQuery('{__name__=~"hookwatch_synthetic_.*|hookwatch_probe_success"}'))}; logs: ${agent.logs
            .filter((l) => l.includes('synthetic'))
            .slice(-3)
            .join('\n')}`,
        );
      });
      const delivery = (await amAlerts(am.url)).filter((a) => a.labels.alertname === 'HookwatchWebhookDeliverySuccessLow');
      expect(delivery.length).toBeGreaterThan(0);
      for (const d of delivery) {
        expect(d.labels.destination, JSON.stringify(d.labels)).toBe(host);
        expect(d.status.state).toBe('suppressed');
      }
      const synth = (await amAlerts(am.url)).find((a) => a.labels.alertname === 'HookwatchSyntheticWebhookFailing');
      expect(synth?.labels.destination).toBe(host);
      expect(synth?.status.state).toBe('suppressed');
      for (const d of dependents) {
        expect(d.status.state, d.labels.alertname).toBe('suppressed');
        expect(d.status.inhibitedBy.length).toBeGreaterThan(0);
      }
      const notified = sink.notifications.flatMap((n) => n.alerts.map((a) => a.labels.alertname!));
      // (Only what was sent after the fault counts: with 1s intervals, the seconds before the YAML threshold
      // reached Prometheus can produce a staleness blip that production intervals never would.)
      const leaked = sink.notifications
        .filter((n) => n.at >= t0)
        .flatMap((n) =>
          n.alerts
            .filter((a) => DEPENDENT.test(a.labels.alertname!))
            .map(
              (a) =>
                `${n.receiver} ${a.status} ${a.labels.alertname} ${a.labels.condition ?? ''} at +${((n.at - t0) / 1000).toFixed(1)}s (page at +${secondsToPage.toFixed(1)}s)`,
            ),
        );
      expect(leaked, leaked.join('; ')).toEqual([]);
      expect(notified.length).toBeGreaterThan(0);

      // Heal: flush the resolver; deliveries reach the new address and the drift page resolves.
      const tHeal = Date.now();
      await lab.flush('bad');
      const resolved = await waitFor(
        () =>
          sink.notifications.find((n) => n.receiver === 'pager' && n.alerts.some((a) => a.labels.alertname === 'HookwatchDNSDrift' && a.status === 'resolved')),
        { timeoutMs: 60_000, intervalMs: 100, what: 'the resolved notification' },
      );
      await waitFor(() => newRx.received.length > 0, { timeoutMs: 20_000, what: 'deliveries at the new address' });

      console.log(
        `e2e figures (scrape 1s, eval 1s, for: scaled 1/60, probe interval 1s, group_wait 3s): fault -> page ${secondsToPage.toFixed(1)} s (condition=${alert.labels.condition}); heal -> resolved ${((resolved.at - tHeal) / 1000).toFixed(1)} s; suppressed dependents: ${dependents.map((d) => d.labels.alertname).join(', ')}`,
      );
      expect(secondsToPage).toBeGreaterThan(0);
      // The BTCPay API key never leaks into what Prometheus stores or what the pager receives.
      const exposition = await (await fetch(`${agent.url}/metrics`)).text();
      expect(exposition).not.toContain(apiKey);
      expect(JSON.stringify(sink.notifications)).not.toContain(apiKey);
      expect(exposition).not.toContain(WEBHOOK_SECRET);
      expect(JSON.stringify(sink.notifications)).not.toContain(WEBHOOK_SECRET);
      expect(JSON.stringify(await promQuery('{__name__=~"hookwatch_.+"}'))).not.toContain(apiKey);
    }, 240_000);
  },
);
