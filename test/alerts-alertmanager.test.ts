// alerts/alertmanager.example.yml as Alertmanager runs it: amtool validates it and resolves routes,
// and a real Alertmanager (receivers pointed at a local sink) proves the inhibition rules: a DNS
// drift on a host silences the delivery, latency and synthetic alerts for that host only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { waitFor } from './helpers/agent-process.ts';
import { amAlerts, EXAMPLE_AM_CONFIG, startAlertmanager, startSink, testAlertmanagerConfig } from './alerts-stack.ts';

function amtool(args: string[]) {
  const r = spawnSync(bin('amtool'), args, { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

describe('alertmanager example: static', () => {
  it('reads every credential from a file, never inline', () => {
    const text = readFileSync(EXAMPLE_AM_CONFIG, 'utf8');
    const cfg = parse(text) as { receivers: Array<Record<string, Array<Record<string, unknown>>>>; global: Record<string, unknown> };
    expect(cfg.global.smtp_auth_password_file).toMatch(/^\/.+/);
    expect(cfg.global.smtp_auth_password).toBeUndefined();
    const pd = cfg.receivers.find((r) => r.name === ('pager' as unknown))!.pagerduty_configs![0]!;
    expect(pd.routing_key_file).toMatch(/^\//);
    expect(pd.routing_key).toBeUndefined();
    const slack = cfg.receivers.find((r) => r.name === ('team-chat' as unknown))!.slack_configs![0]!;
    expect(slack.api_url_file).toMatch(/^\//);
    expect(text).not.toMatch(/hooks\.slack\.com|routing_key:\s|api_url:\s|auth_password:\s/);
  });
});

describe.skipIf(missingBinaries('amtool'))('alertmanager example: amtool', () => {
  it('passes amtool check-config', () => {
    const r = amtool(['check-config', EXAMPLE_AM_CONFIG]);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('routes pages to the pager (and the team channel) and tickets to chat and e-mail', () => {
    const route = (...labels: string[]) => amtool(['config', 'routes', 'test', `--config.file=${EXAMPLE_AM_CONFIG}`, ...labels]).stdout.trim();
    expect(route('alertname=HookwatchDNSDrift', 'severity=page', 'probe=internal-dns')).toBe('pager,team-chat');
    expect(route('alertname=HookwatchResolverTTLInflated', 'severity=ticket', 'probe=internal-dns')).toBe('team-chat,team-email');
    expect(route('alertname=Other')).toBe('team-chat');
  });
});

describe.skipIf(missingBinaries('prometheus-alertmanager'))('alertmanager example: inhibition in a real Alertmanager', () => {
  let sink: Awaited<ReturnType<typeof startSink>>;
  let am: Awaited<ReturnType<typeof startAlertmanager>>;
  const common = { job: 'hookwatch', instance: '127.0.0.1:9877' };
  const alerts = {
    drift: { alertname: 'HookwatchDNSDrift', severity: 'page', probe: 'internal-dns', host: 'shop.example.com', destination: 'shop.example.com', ...common },
    inflated: {
      alertname: 'HookwatchResolverTTLInflated',
      severity: 'ticket',
      probe: 'internal-dns',
      host: 'shop.example.com',
      destination: 'shop.example.com',
      ...common,
    },
    synthSame: {
      alertname: 'HookwatchSyntheticWebhookFailing',
      severity: 'page',
      probe: 'internal-synthetic',
      target: 'https://shop.example.com/hook',
      destination: 'shop.example.com',
      ...common,
    },
    synthOther: {
      alertname: 'HookwatchSyntheticWebhookFailing',
      severity: 'page',
      probe: 'internal-synthetic',
      target: 'https://backup.example.net/hook',
      destination: 'backup.example.net',
      ...common,
    },
    // destination joined from hookwatch_webhook_destination_info: inhibited by a drift of that host only,
    // whichever agent sees it; a drift of another host on the same agent does not silence it
    deliverySameDest: {
      alertname: 'HookwatchWebhookDeliverySuccessLow',
      severity: 'page',
      condition: 'ratio15m',
      probe: 'shop-delivery',
      destination: 'shop.example.com',
      job: 'hookwatch',
      instance: '10.0.0.3:9877',
    },
    latencySameDest: { alertname: 'HookwatchPaidToDeliveredSlow', severity: 'page', probe: 'shop-latency', destination: 'shop.example.com', ...common },
    deliveryOtherDest: {
      alertname: 'HookwatchWebhookDeliverySuccessLow',
      severity: 'page',
      condition: 'ratio15m',
      probe: 'erp-delivery',
      destination: 'erp.example.com',
      ...common,
    },
    // no destination (several webhook hosts, or no info metric): inhibited by a drift seen by the same agent only
    deliverySameAgent: { alertname: 'HookwatchWebhookDeliverySuccessLow', severity: 'page', condition: 'ratio15m', probe: 'btcpay-delivery', ...common },
    deliveryOtherAgent: {
      alertname: 'HookwatchWebhookDeliverySuccessLow',
      severity: 'page',
      condition: 'ratio15m',
      probe: 'btcpay-delivery',
      job: 'hookwatch',
      instance: '10.0.0.2:9877',
    },
    undeliveredSameAgent: { alertname: 'HookwatchPaidEventUndelivered', severity: 'page', probe: 'btcpay-paid-latency', ...common },
    probeFailing: { alertname: 'HookwatchProbeFailing', severity: 'ticket', condition: 'failing', probe: 'internal-synthetic', type: 'synthetic', ...common },
  };

  beforeAll(async () => {
    sink = await startSink();
    am = await startAlertmanager(testAlertmanagerConfig(sink.url));
  });
  afterAll(async () => {
    await am?.stop();
    await sink?.stop();
  });

  it('pages the drift, silences its consequences for the same destination, lets the rest through', async () => {
    const now = new Date().toISOString();
    const body = Object.values(alerts).map((labels) => ({ labels, annotations: { summary: `${labels.alertname} test` }, startsAt: now }));
    const post = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(post.status).toBe(200);

    const firingAt = (receiver: string, alertname: string, extra: Record<string, string> = {}) =>
      sink.notifications.some(
        (n) =>
          n.receiver === receiver &&
          n.alerts.some((a) => a.status === 'firing' && a.labels.alertname === alertname && Object.entries(extra).every(([k, v]) => a.labels[k] === v)),
      );
    await waitFor(() => firingAt('pager', 'HookwatchDNSDrift', { host: 'shop.example.com' }), { timeoutMs: 20_000, what: 'the DNS drift page' });
    await waitFor(() => firingAt('pager', 'HookwatchSyntheticWebhookFailing', { destination: 'backup.example.net' }), {
      timeoutMs: 20_000,
      what: 'the other host page',
    });
    await waitFor(() => firingAt('pager', 'HookwatchWebhookDeliverySuccessLow', { instance: '10.0.0.2:9877' }), {
      timeoutMs: 20_000,
      what: 'the other agent page',
    });
    await waitFor(() => firingAt('pager', 'HookwatchWebhookDeliverySuccessLow', { destination: 'erp.example.com' }), {
      timeoutMs: 20_000,
      what: 'the other destination page',
    });
    await waitFor(() => firingAt('team-email', 'HookwatchResolverTTLInflated'), { timeoutMs: 20_000, what: 'the TTL ticket' });

    // Alertmanager's own view: which alerts are suppressed, and by what.
    const state = await amAlerts(am.url);
    const find = (labels: Record<string, string>) => state.find((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v))!;
    for (const suppressed of [
      alerts.synthSame,
      alerts.deliverySameDest,
      alerts.latencySameDest,
      alerts.deliverySameAgent,
      alerts.undeliveredSameAgent,
      alerts.probeFailing,
    ]) {
      const a = find(suppressed);
      expect(a.status.state, suppressed.alertname).toBe('suppressed');
      expect(a.status.inhibitedBy.length, suppressed.alertname).toBeGreaterThan(0);
    }
    for (const active of [alerts.drift, alerts.inflated, alerts.synthOther, alerts.deliveryOtherAgent, alerts.deliveryOtherDest])
      expect(find(active).status.state, active.alertname).toBe('active');

    // Nothing suppressed ever reached a receiver; the ticket never reached the pager.
    const delivered = sink.notifications.flatMap((n) => n.alerts.map((a): Record<string, string> => ({ ...a.labels, receiver: n.receiver })));
    expect(delivered.filter((d) => d.alertname === 'HookwatchSyntheticWebhookFailing' && d.destination === 'shop.example.com')).toEqual([]);
    expect(
      delivered.filter((d) => d.alertname === 'HookwatchWebhookDeliverySuccessLow' && d.instance === common.instance && d.destination !== 'erp.example.com'),
    ).toEqual([]);
    expect(
      delivered.filter((d) => d.destination === 'shop.example.com' && d.alertname !== 'HookwatchDNSDrift' && d.alertname !== 'HookwatchResolverTTLInflated'),
    ).toEqual([]);
    expect(delivered.filter((d) => d.alertname === 'HookwatchPaidEventUndelivered')).toEqual([]);
    expect(delivered.filter((d) => d.receiver === 'pager' && d.severity === 'ticket')).toEqual([]);
  });

  it("per store: a store's page silences that store's slow-burn ticket only, never another store's alerts", async () => {
    const agent = { job: 'hookwatch', instance: '10.0.0.9:9877', probe: 'all-stores-delivery' };
    const a = 'StoreAAAAAAAAAAAAAAAAAA';
    const b = 'StoreBBBBBBBBBBBBBBBBBB';
    const slow = { alertname: 'HookwatchWebhookDeliverySuccessLow', severity: 'ticket', condition: 'burn_slow' };
    const set = {
      pageA: { alertname: 'HookwatchWebhookDeliverySuccessLow', severity: 'page', condition: 'ratio15m', store: a, destination: 'pay.a.example', ...agent },
      ticketA: { ...slow, store: a, destination: 'pay.a.example', ...agent },
      ticketB: { ...slow, store: b, destination: 'shop.b.example', ...agent },
      undeliveredB: { alertname: 'HookwatchPaidEventUndelivered', severity: 'page', store: b, destination: 'shop.b.example', ...agent, probe: 'latency' },
    };
    const now = new Date().toISOString();
    const body = Object.values(set).map((labels) => ({ labels, annotations: { summary: `${labels.alertname} test` }, startsAt: now }));
    const post = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(post.status).toBe(200);
    const got = (labels: Record<string, string>) => async () =>
      (await amAlerts(am.url)).find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    const suppressed = async () => (await got(set.ticketA)())?.status.state === 'suppressed';
    await waitFor(suppressed, { timeoutMs: 20_000, what: "store A's ticket suppressed by its page" });
    expect((await got(set.ticketB)())?.status.state).toBe('active');
    expect((await got(set.pageA)())?.status.state).toBe('active');
    expect((await got(set.undeliveredB)())?.status.state).toBe('active');
  });
});
