// The synthetic probe: an end-to-end test webhook through the whole integration path to every
// destination, hourly by default. `direct` signs and sends it from hookwatch (through the resolver
// the sender uses); `btcpay` makes BTCPay itself send real deliveries for a tagged zero-amount invoice.
import { z } from 'zod';
import { defineProbe, type ProbeContext, type ProbeResult } from '../../src/probe/types.ts';
import type { MetricSet } from '../../src/metrics/run-metrics.ts';
import { configPath, duration, secretRef } from '../../src/config/schema-helpers.ts';
import { scrub } from '../../src/secret.ts';
import { resolverSchema } from '../../src/config/schema.ts';
import { SIGNING_SCHEMES, standardWebhooksKey } from '../../src/signing/index.ts';
import { SYNTHETIC_FAILURE_CLASSES, type TargetOutcome } from './outcome.ts';
import { buildEvent, signedHeaders, type SyntheticEvent } from './events.ts';
import { confirmDelivery, post, securityChecks, transportOpts, type TransportOpts } from './direct.ts';
import { runBtcpayMode } from './btcpay.ts';
import { redirectFailure } from './redirect.ts';
import { directOutcome, lastSuccess, summarize } from './evaluate.ts';
import { METRICS } from './metrics.ts';
import { refuseUrlCredentials } from '../../src/redact-url.ts';

export { SYNTHETIC_FAILURE_CLASSES, type SyntheticFailureClass, type TargetOutcome } from './outcome.ts';
export { summarize } from './evaluate.ts';
export { METRICS } from './metrics.ts';

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

/** Direct mode, per target at once: sign and POST, then (after a 2xx) the receipt and the security checks. */
async function runDirect(probe: Probe, ctx: Pick<ProbeContext, 'now' | 'config' | 'signal'>): Promise<TargetOutcome[]> {
  const signing = probe.signing!;
  const t: TransportOpts = transportOpts(probe, ctx);
  const confirm = probe.confirm ? { url: probe.confirm.url, withinMs: probe.confirm.within } : undefined;
  return Promise.all(
    (probe.targets ?? []).map(async (target): Promise<TargetOutcome> => {
      const ev = buildEvent(signing.scheme, ctx.now());
      const post = await postSigned(target, ev, signing, t);
      const receipt = post.ok && confirm ? await confirmDelivery(confirm, ev.deliveryId, t) : undefined;
      const security =
        post.ok && probe.security
          ? await securityChecks(target, signing.scheme, signing.secret.reveal(), ctx.now(), confirm, t, receipt?.ok === false)
          : undefined;
      const redirect = redirectFailure(target, post, ctx.now());
      return directOutcome({ target, deliveryId: ev.deliveryId, post, redirect, confirm: receipt, security });
    }),
  );
}

function postSigned(target: string, ev: SyntheticEvent, signing: NonNullable<Probe['signing']>, t: TransportOpts) {
  return post(target, ev, signedHeaders(signing.scheme, ev, signing.secret.reveal()), t);
}

/** Each target's series this run; the last-success time comes from state, so a failing run keeps it. */
function exportOutcomes(m: MetricSet<typeof METRICS>, outcomes: TargetOutcome[], last: Readonly<Record<string, number>>): void {
  for (const o of outcomes) {
    const target = o.target;
    m.gauge('synthetic_success', { target }, o.ok ? 1 : 0);
    if (last[target] !== undefined) m.gauge('synthetic_last_success_timestamp_seconds', { target }, last[target]);
    for (const [phase, v] of Object.entries(o.phases)) if (v !== undefined) m.gauge('synthetic_phase_duration_seconds', { target, phase }, v);
    if (o.address) m.gauge('synthetic_connection_info', { target, address: o.address }, 1);
    for (const cls of SYNTHETIC_FAILURE_CLASSES) m.gauge('synthetic_failure_class', { target, class: cls }, o.failureClass === cls ? 1 : 0);
    for (const s of o.security ?? [])
      if (s.result !== 'skipped') m.gauge('synthetic_security_check_passed', { target, check: s.check }, s.result === 'pass' ? 1 : 0);
  }
}

export const synthetic = defineProbe({
  type: 'synthetic',
  runbook: 'HookwatchSyntheticWebhookFailing',
  schema,
  defaultIntervalMs: 3_600_000,
  thresholds: {
    stale_after_seconds: {
      default: (p) => (2 * p.intervalMs) / 1000,
      help: 'Alert when the last passing synthetic webhook is older than this (default: twice the interval).',
    },
  },
  // The run must outlast the probe's own deadlines, or a slow receiver reads as "probe timed out"
  // instead of the precise not_confirmed / not_delivered verdict.
  defaultTimeoutMs: (p) => neededMs(p) + 5_000,
  sources: { source: ['btcpay'] },
  metrics: METRICS,
  destinations: (p) => p.targets ?? [],
  validate(probe) {
    const errs: Array<{ key: string; message: string }> = [];
    if (probe.timeoutMs < neededMs(probe))
      errs.push({
        key: 'timeout',
        message: `timeout ${probe.timeoutMs / 1000}s is shorter than this probe's own deadlines (${neededMs(probe) / 1000}s: connect + response${probe.confirm ? ' + confirm.within' : ''}${probe.mode === 'btcpay' ? ' + within' : ''}${probe.security ? ', times the security checks' : ''}); raise it or omit it`,
      });
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
    const last = (ctx.state.get('lastSuccess') as Record<string, number> | undefined) ?? {};
    // When a run cannot even start (BTCPay unreachable, bad key), the targets it watched must not
    // keep reporting success from an earlier run.
    const abort = (result: ProbeResult): ProbeResult => {
      for (const target of (ctx.state.get('targets') as string[] | undefined) ?? []) {
        ctx.metrics.gauge('synthetic_success', { target }, 0);
        if (last[target] !== undefined) ctx.metrics.gauge('synthetic_last_success_timestamp_seconds', { target }, last[target]);
      }
      return result;
    };
    if (p.mode === 'btcpay') {
      // btcpay.ts writes no metrics; it takes the untyped context until that mode declares its own.
      const r = await runBtcpayMode(p, ctx as unknown as ProbeContext);
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
    const next = lastSuccess(last, outcomes, ctx.now());
    ctx.state.set(
      'targets',
      outcomes.map((o) => o.target),
    );
    ctx.state.set('lastSuccess', next);
    exportOutcomes(ctx.metrics, outcomes, next);
    const res = summarize(outcomes);
    ctx.log.debug({ targets: outcomes.length, ok: res.ok, startedAt: nowStart }, 'synthetic run finished');
    return res;
  },
});
