// The synthetic probe: an end-to-end test webhook through the whole integration path to every
// destination, hourly by default. `direct` signs and sends it from hookwatch (through the resolver
// the sender uses); `btcpay` makes BTCPay itself send real deliveries for a tagged zero-amount invoice.
import { z } from 'zod';
import { defineProbe, type ProbeContext, type ProbeResult } from '../../src/probe/types.ts';
import { configPath, duration, secretRef } from '../../src/config/schema-helpers.ts';
import { scrub } from '../../src/secret.ts';
import { resolverSchema } from '../../src/config/schema.ts';
import { SIGNING_SCHEMES, standardWebhooksKey } from '../../src/signing/index.ts';
import { SYNTHETIC_FAILURE_CLASSES, type SyntheticFailureClass, type TargetOutcome } from './outcome.ts';
import { buildEvent, signedHeaders } from './events.ts';
import { confirmDelivery, post, securityChecks, transportOpts, type TransportOpts } from './direct.ts';
import { runBtcpayMode } from './btcpay.ts';
import { redirectFailure } from './redirect.ts';
import { refuseUrlCredentials } from '../../src/redact-url.ts';

export { SYNTHETIC_FAILURE_CLASSES, type SyntheticFailureClass, type TargetOutcome } from './outcome.ts';

// Credentials never ride in a target URL (src/redact-url.ts): they would show in labels and logs.
const httpUrl = () =>
  z
    .string()
    .refine((u) => {
      try {
        return ['http:', 'https:'].includes(new URL(u).protocol);
      } catch {
        return false;
      }
    }, 'expected an absolute http(s) URL')
    .superRefine(refuseUrlCredentials);

const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$|token|key|secret|password|auth/i;

const schema = z.strictObject({
  mode: z.enum(['direct', 'btcpay']).default('direct').describe('direct: hookwatch signs and sends the webhook; btcpay: BTCPay sends real deliveries'),
  targets: z
    .array(httpUrl())
    .min(1)
    .optional()
    .describe("direct: the receiver URLs (primary and backups); btcpay: which of the store's webhook URLs to watch (default all)"),
  signing: z
    .strictObject({
      scheme: z.enum(SIGNING_SCHEMES).describe('Signature scheme the receiver verifies'),
      secret: secretRef().describe('The webhook signing secret, as a reference'),
    })
    .optional()
    .describe('direct mode: how to sign the test webhook'),
  headers: z
    .record(z.string(), z.union([z.string(), secretRef()]))
    .superRefine((h, ctx) => {
      for (const [k, v] of Object.entries(h))
        if (typeof v === 'string' && CREDENTIAL_HEADER.test(k)) {
          ctx.addIssue({ code: 'custom', path: [k], message: `header ${k} carries a credential: use a secret reference { file: PATH } or { env: NAME }` });
        }
    })
    .default({})
    .describe('Extra request headers for the targets and the receipt URL; credentials only as secret references'),
  confirm: z
    .strictObject({
      url: httpUrl()
        .refine((u) => u.includes('{deliveryId}'), 'confirm.url must contain {deliveryId}')
        .describe('URL that answers 2xx once the receiver has processed the delivery; {deliveryId} is replaced'),
      within: duration().default(30_000).describe('How long the receiver gets to confirm (default 30s)'),
    })
    .optional()
    .describe('Optional: ask the receiver whether it processed the webhook'),
  security: z.boolean().default(false).describe('direct mode: also check signature verification, replay window and idempotency (default false)'),
  resolver: resolverSchema().optional(),
  connectTimeout: duration().default(5_000).describe('TCP connect (and TLS) timeout per target (default 5s)'),
  responseTimeout: duration().default(10_000).describe('Time to the response headers per target (default 10s)'),
  caFile: configPath().optional().describe("PEM file of a private CA the targets' certificates chain to (relative to the config file)"),
  source: z.string().optional().describe('btcpay mode: name of a btcpay source'),
  within: duration().default(120_000).describe('btcpay mode: how long BTCPay gets to deliver (default 2m)'),
});

/** Worst case of one run: targets go in parallel; security checks send three more requests per target. */
function neededMs(p: z.infer<typeof schema>): number {
  const oneSend = p.connectTimeout + p.responseTimeout + (p.confirm?.within ?? 0);
  if (p.mode === 'btcpay') return p.within + (p.confirm?.within ?? 0) + p.responseTimeout;
  return p.security ? oneSend * 4 : oneSend;
}

type Probe = z.infer<typeof schema> & { name: string; intervalMs: number; timeoutMs: number; thresholds: Record<string, number> };

const CAUSES: Record<SyntheticFailureClass, string> = {
  dns_error: 'The name does not resolve through the resolver the sender uses: check the DNS records and that resolver (see the dns_drift probe).',
  connect_refused: 'Nothing listens at the address the name resolved to: the receiver is down, or DNS points at an old or wrong address (the failure names the address used).',
  connect_timeout: 'Connections to the receiver time out: a firewall drops them, the host is unreachable, or DNS points at an address that no longer exists.',
  tls_error: 'The TLS handshake failed: expired certificate, a name mismatch, or a CA the sender does not trust (set caFile for a private CA).',
  response_timeout: 'The receiver accepted the connection but did not answer in time: a hung worker, a slow dependency or a backlog. The sender will retry and block later events.',
  http_status: 'The receiver refused the webhook: 401/403 usually means the signing secret differs (rotated on one side only), 404 a wrong path, 5xx an application error.',
  redirect:
    'The target answers with a redirect (http->https, a moved path): BTCPay follows it and turns the POST into a GET without body, so webhooks are lost while its log shows success. Configure the final URL in BTCPay and in the probe.',
  not_confirmed: 'The receiver answered 2xx but the internal system never recorded the delivery: it acknowledges before processing and loses the event, or processing fails or lags.',
  not_delivered: 'BTCPay did not deliver the invoice events successfully within the deadline: see the delivery errors in details (queue backlog behind a failing endpoint, DNS, TLS, refused connections).',
};

export const METRICS = {
  info: { name: 'synthetic_connection_info', type: 'gauge' as const, help: 'Address the last synthetic webhook to the target connected to (value 1).', labelNames: ['target', 'address'] },
  failure: {
    name: 'synthetic_failure_class',
    type: 'gauge' as const,
    help: 'Why the last synthetic webhook to the target failed: 1 for the class of the failure, 0 for the others; all 0 on success.',
    labelNames: ['target', 'class'],
  },
  security: {
    name: 'synthetic_security_check_passed',
    type: 'gauge' as const,
    help: 'Receiver security check outcome (bad_signature, replay, duplicate): 1 passed, 0 failed; absent when skipped.',
    labelNames: ['target', 'check'],
  },
};

function record(ctx: ProbeContext, outcomes: TargetOutcome[], nowMs: number): void {
  const m = ctx.metrics;
  for (const d of Object.values(METRICS)) m.define(d);
  const current = new Set(outcomes.map((o) => o.target));
  // Targets that left the config lose their series; the rest are rewritten below.
  for (const name of ['synthetic_success', 'synthetic_last_success_timestamp_seconds', 'synthetic_phase_duration_seconds', METRICS.info.name, METRICS.failure.name, METRICS.security.name]) {
    m.clear(name, (l) => current.has(l.target ?? ''));
  }
  for (const o of outcomes) {
    const target = o.target;
    m.set('synthetic_success', { target }, o.ok ? 1 : 0);
    if (o.ok) m.set('synthetic_last_success_timestamp_seconds', { target }, Math.floor(nowMs / 1000));
    m.clear('synthetic_phase_duration_seconds', (l) => l.target !== target);
    for (const [phase, v] of Object.entries(o.phases)) if (v !== undefined) m.set('synthetic_phase_duration_seconds', { target, phase }, v);
    m.clear(METRICS.info.name, (l) => l.target !== target);
    if (o.address) m.set(METRICS.info.name, { target, address: o.address }, 1);
    for (const cls of SYNTHETIC_FAILURE_CLASSES) m.set(METRICS.failure.name, { target, class: cls }, o.failureClass === cls ? 1 : 0);
    m.clear(METRICS.security.name, (l) => l.target !== target);
    for (const s of o.security ?? []) if (s.result !== 'skipped') m.set(METRICS.security.name, { target, check: s.check }, s.result === 'pass' ? 1 : 0);
  }
}

async function runDirect(probe: Probe, ctx: ProbeContext): Promise<TargetOutcome[]> {
  const signing = probe.signing!;
  const t: TransportOpts = transportOpts(probe, ctx);
  const confirm = probe.confirm ? { url: probe.confirm.url, withinMs: probe.confirm.within } : undefined;
  return Promise.all(
    (probe.targets ?? []).map(async (target): Promise<TargetOutcome> => {
      const ev = buildEvent(signing.scheme, ctx.now());
      const res = await post(target, ev, signedHeaders(signing.scheme, ev, signing.secret.reveal()), t);
      const out: TargetOutcome = {
        target,
        ok: res.ok,
        phases: { ...res.phases },
        address: res.address,
        failureClass: res.failure?.class,
        message: res.failure?.message,
        details: { target, deliveryId: ev.deliveryId, address: res.address, status: res.status },
      };
      const redirect = redirectFailure(target, res, ctx.now());
      if (redirect) Object.assign(out, redirect);
      if (res.ok && confirm) {
        const c = await confirmDelivery(confirm, ev.deliveryId, t);
        out.phases.confirm = c.seconds;
        out.details.confirm = { ok: c.ok, seconds: Number(c.seconds.toFixed(3)), polls: c.polls };
        if (!c.ok) Object.assign(out, { ok: false, failureClass: 'not_confirmed', message: c.message });
      }
      if (res.ok && probe.security) {
        out.security = await securityChecks(target, signing.scheme, signing.secret.reveal(), ctx.now(), confirm, t, out.failureClass === 'not_confirmed');
        out.details.security = out.security;
      }
      out.details.phasesSeconds = Object.fromEntries(Object.entries(out.phases).map(([k, v]) => [k, Number((v ?? 0).toFixed(4))]));
      if (out.failureClass) out.details.failureClass = out.failureClass;
      if (out.message) out.details.error = out.message;
      return out;
    }),
  );
}

export function summarize(outcomes: TargetOutcome[]): ProbeResult {
  const failed = outcomes.filter((o) => !o.ok);
  const lax = outcomes.flatMap((o) => (o.security ?? []).filter((s) => s.result === 'fail').map((s) => ({ target: o.target, ...s })));
  const details = { targets: outcomes.map((o) => o.details) };
  if (failed.length === 0 && lax.length === 0) return { ok: true, details };
  const parts = failed.map((o) => `${o.target}: ${o.failureClass} (${o.message})`);
  for (const s of lax) parts.push(`${s.target}: security check ${s.check} failed: ${s.sentence}`);
  const classes = [...new Set(failed.map((o) => o.failureClass).filter((c): c is SyntheticFailureClass => !!c))];
  const causes = classes.map((c) => CAUSES[c]);
  if (lax.length) causes.push('The receiver does not enforce what a webhook handler must: signature verification, a replay window and idempotency by delivery id. Fix the handler before an attacker finds it.');
  const reason =
    failed.length > 0
      ? `synthetic webhook failed for ${failed.length} of ${outcomes.length} target(s): ${parts.join('; ')}`
      : `receiver security checks failed: ${parts.join('; ')}`;
  return { ok: false, reason, cause: causes.join(' '), details };
}

export const synthetic = defineProbe({
  type: 'synthetic',
  runbook: 'HookwatchSyntheticWebhookFailing',
  schema,
  defaultIntervalMs: 3_600_000,
  thresholds: {
    stale_after_seconds: { default: (p) => (2 * p.intervalMs) / 1000, help: 'Alert when the last passing synthetic webhook is older than this (default: twice the interval).' },
  },
  // The run must outlast the probe's own deadlines, or a slow receiver reads as "probe timed out"
  // instead of the precise not_confirmed / not_delivered verdict.
  defaultTimeoutMs: (p) => neededMs(p) + 5_000,
  sources: { source: ['btcpay'] },
  destinations: (p) => p.targets ?? [],
  validate(probe) {
    const errs: Array<{ key: string; message: string }> = [];
    if (probe.timeoutMs < neededMs(probe))
      errs.push({ key: 'timeout', message: `timeout ${probe.timeoutMs / 1000}s is shorter than this probe's own deadlines (${neededMs(probe) / 1000}s: connect + response${probe.confirm ? ' + confirm.within' : ''}${probe.mode === 'btcpay' ? ' + within' : ''}${probe.security ? ', times the security checks' : ''}); raise it or omit it` });
    if (probe.mode === 'direct') {
      if (!probe.targets?.length) errs.push({ key: 'targets', message: 'direct mode needs targets: the receiver URLs (primary and backups)' });
      if (!probe.signing) errs.push({ key: 'signing', message: 'direct mode needs signing: { scheme, secret }' });
      else if (probe.signing.scheme === 'standard-webhooks' && !standardWebhooksKey(probe.signing.secret.reveal()))
        errs.push({ key: 'signing.secret', message: `standard-webhooks secrets are whsec_ followed by base64 (${probe.signing.secret.toString()} is not)` });
    } else {
      if (!probe.source) errs.push({ key: 'source', message: 'btcpay mode needs source: the name of a btcpay source' });
      if (probe.security) errs.push({ key: 'security', message: 'security checks need direct mode (hookwatch must sign the probing requests itself)' });
    }
    return errs;
  },
  async run(probe, ctx) {
    const p = probe as Probe;
    const nowStart = ctx.now();
    let outcomes: TargetOutcome[];
    // When a run cannot even start (BTCPay unreachable, bad key), the targets it watched must not
    // keep reporting success from an earlier run.
    const known = (ctx.state.get('targets') as string[] | undefined) ?? [];
    const abort = (result: ProbeResult): ProbeResult => {
      for (const target of known) ctx.metrics.set('synthetic_success', { target }, 0);
      return result;
    };
    if (p.mode === 'btcpay') {
      const r = await runBtcpayMode(p, ctx);
      if ('result' in r) return abort(r.result);
      outcomes = r.outcomes;
    } else {
      if (!p.targets?.length || !p.signing) return abort({ ok: false, reason: 'direct mode needs targets and signing', cause: 'Configuration error.' });
      try {
        outcomes = await runDirect(p, ctx);
      } catch (e) {
        // Only a programming or configuration error gets here (e.g. an unusable secret); never its value.
        const msg = scrub(e instanceof Error ? e.message : String(e), [p.signing.secret, ...ctx.config.secrets]);
        return abort({ ok: false, reason: `synthetic run failed: ${msg}`, cause: 'Check the signing configuration.' });
      }
    }
    ctx.state.set('targets', outcomes.map((o) => o.target));
    record(ctx, outcomes, ctx.now());
    const res = summarize(outcomes);
    ctx.log.debug({ targets: outcomes.length, ok: res.ok, startedAt: nowStart }, 'synthetic run finished');
    return res;
  },
});
