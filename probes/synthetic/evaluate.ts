// The synthetic verdict, pure: what each target answered in; per-target outcomes, the run's verdict
// and the numbers to export out. The last success per target is state carried between runs.
import type { HttpResult } from '../../src/clients/http/index.ts';
import type { ProbeResult } from '../../src/probe/types.ts';
import type { ConfirmOutcome, SecurityOutcome } from './direct.ts';
import type { SyntheticFailureClass, TargetOutcome } from './outcome.ts';

const CAUSES: Record<SyntheticFailureClass, string> = {
  dns_error: 'The name does not resolve through the resolver the sender uses: check the DNS records and that resolver (see the dns_drift probe).',
  connect_refused:
    'Nothing listens at the address the name resolved to: the receiver is down, or DNS points at an old or wrong address (the failure names the address used).',
  connect_timeout: 'Connections to the receiver time out: a firewall drops them, the host is unreachable, or DNS points at an address that no longer exists.',
  tls_error: 'The TLS handshake failed: expired certificate, a name mismatch, or a CA the sender does not trust (set caFile for a private CA).',
  response_timeout:
    'The receiver accepted the connection but did not answer in time: a hung worker, a slow dependency or a backlog. The sender will retry and block later events.',
  redirect:
    'The target answers with a redirect (http->https, a moved path): BTCPay follows it and turns the POST into a GET without body, so webhooks are lost while its log shows success. Configure the final URL in BTCPay and in the probe.',
  http_status:
    'The receiver refused the webhook: 401/403 usually means the signing secret differs (rotated on one side only), 404 a wrong path, 5xx an application error.',
  not_confirmed:
    'The receiver answered 2xx but the internal system never recorded the delivery: it acknowledges before processing and loses the event, or processing fails or lags.',
  not_delivered:
    'BTCPay did not deliver the invoice events successfully within the deadline: see the delivery errors in details (queue backlog behind a failing endpoint, DNS, TLS, refused connections).',
};

const LAX_RECEIVER =
  'The receiver does not enforce what a webhook handler must: signature verification, a replay window and idempotency by delivery id. Fix the handler before an attacker finds it.';

/** What direct mode gathered for one target: the POST, then (when it passed) the receipt and the security checks. */
export interface DirectObservation {
  target: string;
  deliveryId: string;
  post: HttpResult;
  /** Set when the target answered with a redirect BTCPay would follow (losing the body). */
  redirect?: { failureClass: 'redirect'; message: string };
  confirm?: ConfirmOutcome;
  security?: SecurityOutcome[];
}

/** One target's outcome in direct mode: the POST decides, a missing receipt turns a 2xx into not_confirmed. */
export function directOutcome(o: DirectObservation): TargetOutcome {
  const res = o.post;
  const out: TargetOutcome = {
    target: o.target,
    ok: res.ok,
    phases: { ...res.phases },
    address: res.address,
    failureClass: res.failure?.class,
    message: res.failure?.message,
    details: { target: o.target, deliveryId: o.deliveryId, address: res.address, status: res.status },
  };
  if (o.redirect) Object.assign(out, o.redirect);
  if (o.confirm) {
    const c = o.confirm;
    out.phases.confirm = c.seconds;
    out.details.confirm = { ok: c.ok, seconds: Number(c.seconds.toFixed(3)), polls: c.polls };
    if (!c.ok) Object.assign(out, { ok: false, failureClass: 'not_confirmed', message: c.message });
  }
  if (o.security) {
    out.security = o.security;
    out.details.security = o.security;
  }
  out.details.phasesSeconds = Object.fromEntries(Object.entries(out.phases).map(([k, v]) => [k, Number((v ?? 0).toFixed(4))]));
  if (out.failureClass) out.details.failureClass = out.failureClass;
  if (out.message) out.details.error = out.message;
  return out;
}

/** The run's verdict over every target: failed targets and lax receivers, with the likely causes. */
export function summarize(outcomes: TargetOutcome[]): ProbeResult {
  const failed = outcomes.filter((o) => !o.ok);
  const lax = outcomes.flatMap((o) => (o.security ?? []).filter((s) => s.result === 'fail').map((s) => ({ target: o.target, ...s })));
  const details = { targets: outcomes.map((o) => o.details) };
  if (failed.length === 0 && lax.length === 0) return { ok: true, details };
  const parts = failed.map((o) => `${o.target}: ${o.failureClass} (${o.message})`);
  for (const s of lax) parts.push(`${s.target}: security check ${s.check} failed: ${s.sentence}`);
  const classes = [...new Set(failed.map((o) => o.failureClass).filter((c): c is SyntheticFailureClass => !!c))];
  const causes = classes.map((c) => CAUSES[c]);
  if (lax.length) causes.push(LAX_RECEIVER);
  const reason =
    failed.length > 0
      ? `synthetic webhook failed for ${failed.length} of ${outcomes.length} target(s): ${parts.join('; ')}`
      : `receiver security checks failed: ${parts.join('; ')}`;
  return { ok: false, reason, cause: causes.join(' '), details };
}

/** Unix seconds of each target's last pass: this run's passes move it, targets no longer tested drop out. */
export function lastSuccess(prev: Readonly<Record<string, number>>, outcomes: TargetOutcome[], nowMs: number): Record<string, number> {
  const next: Record<string, number> = {};
  for (const o of outcomes) {
    const t = o.ok ? Math.floor(nowMs / 1000) : prev[o.target];
    if (t !== undefined) next[o.target] = t;
  }
  return next;
}
