// The delivery_rate verdict, pure: the window's delivery rows, the webhook checks and the thresholds in; the
// window's figures, the verdict and its sentences out. No I/O, no clock.
import { FAILURE_CAUSES, failureReason, type FailureReason } from '../../src/btcpay/failures.ts';
import { listSome } from '../../src/btcpay/limits.ts';
import { eventKey, type TrackedDelivery } from '../../src/btcpay/tracker.ts';
import { misconfigCause, type Check } from './webhook-checks.ts';

/** Threshold defaults; `thresholds:` in index.ts and the verdict both read these. */
export const DEFAULTS = { min_success_ratio: 0.95, min_deliveries: 5, objective: 0.99 } as const;
export type Thresholds = { [K in keyof typeof DEFAULTS]?: number };

/** What the window holds: per attempt, per event (first attempt and its retries), the longest queue wait. */
export interface WindowFigures {
  attempts: number;
  successes: number;
  /** Undefined when the window holds no attempt. */
  attemptRatio?: number;
  events: number;
  eventsDelivered: number;
  eventRatio?: number;
  backlogSeconds: number;
  /** Failed attempts in the window, oldest first. */
  failures: TrackedDelivery[];
  failureReasons: Partial<Record<FailureReason, number>>;
}

export interface DeliveryInput {
  /** The window's delivery rows, of webhooks that still exist. */
  deliveries: TrackedDelivery[];
  windowSec: number;
  /** The per-event ratio is judged (request bodies are read). */
  perEvent: boolean;
  webhooks: number;
  /** The checks each webhook trips (webhook-checks.ts), in webhook order. */
  misconfig: ReadonlyMap<string, ReadonlySet<Check>>;
  /** The checks that fail the probe. */
  checks: ReadonlySet<Check>;
  paidEvents: string[];
  thresholds: Thresholds;
  /** For the redeliver command the action names. */
  redeliver: { configFile: string; probe: string };
}

export interface DeliveryVerdict {
  ok: boolean;
  reason?: string;
  cause?: string;
  action?: string;
  figures: WindowFigures;
  belowObjective: boolean;
  /** Set when the window holds too few deliveries for the ratio to be judged. */
  volumeGuard?: string;
}

export function windowFigures(deliveries: TrackedDelivery[]): WindowFigures {
  const attempts = deliveries.length;
  const successes = deliveries.filter((d) => d.status === 'HttpSuccess').length;
  const events = new Map<string, boolean>();
  for (const d of deliveries) events.set(eventKey(d), (events.get(eventKey(d)) ?? false) || d.status === 'HttpSuccess');
  const eventsDelivered = [...events.values()].filter(Boolean).length;
  const failures = deliveries.filter((d) => d.status !== 'HttpSuccess');
  const failureReasons: Partial<Record<FailureReason, number>> = {};
  for (const d of failures) failureReasons[failureReason(d)] = (failureReasons[failureReason(d)] ?? 0) + 1;
  return {
    attempts,
    successes,
    ...(attempts ? { attemptRatio: successes / attempts } : {}),
    events: events.size,
    eventsDelivered,
    ...(events.size ? { eventRatio: eventsDelivered / events.size } : {}),
    backlogSeconds: deliveries.reduce((m, d) => Math.max(m, d.deliveryTime - d.timestamp), 0),
    failures,
    failureReasons,
  };
}

/** Webhook checks that fail the probe, in webhook order. */
export function flaggedChecks(misconfig: DeliveryInput['misconfig'], checks: ReadonlySet<Check>): Array<{ webhook: string; check: Check }> {
  const flagged: Array<{ webhook: string; check: Check }> = [];
  for (const [webhook, set] of misconfig) for (const check of set) if (checks.has(check)) flagged.push({ webhook, check });
  return flagged;
}

export function evaluate(input: DeliveryInput): DeliveryVerdict {
  const minRatio = input.thresholds.min_success_ratio ?? DEFAULTS.min_success_ratio;
  const minDeliveries = input.thresholds.min_deliveries ?? DEFAULTS.min_deliveries;
  const objective = input.thresholds.objective ?? DEFAULTS.objective;
  const f = windowFigures(input.deliveries);
  const problems: string[] = [];
  if (f.attemptRatio !== undefined && f.attempts >= minDeliveries && f.attemptRatio < minRatio)
    problems.push(`attempt success ratio ${fmt(f.attemptRatio)} < ${minRatio} over ${input.windowSec / 60} min (${f.successes}/${f.attempts})`);
  if (f.eventRatio !== undefined && input.perEvent && f.events >= minDeliveries && f.eventRatio < minRatio)
    problems.push(`event success ratio ${fmt(f.eventRatio)} < ${minRatio} (${f.eventsDelivered}/${f.events} events delivered)`);
  const flagged = flaggedChecks(input.misconfig, input.checks);
  if (flagged.length) problems.push(`webhook settings: ${listSome(flagged.map((x) => `${x.webhook} ${x.check}`))}`);
  if (input.webhooks === 0) problems.push('the store has no webhooks');

  const verdict: DeliveryVerdict = {
    ok: problems.length === 0,
    figures: f,
    belowObjective: f.attemptRatio !== undefined && f.attemptRatio < objective,
    ...(f.attempts < minDeliveries ? { volumeGuard: `fewer than ${minDeliveries} deliveries in the window: ratio not judged` } : {}),
  };
  if (verdict.ok) return verdict;
  const top = Object.entries(f.failureReasons).sort((a, b) => b[1] - a[1])[0]?.[0] as FailureReason | undefined;
  const cause = flagged.length
    ? misconfigCause(flagged[0]!.check, input.paidEvents)
    : input.webhooks === 0
      ? 'No webhook is configured on the store, so nothing is delivered: create one (Store settings > Webhooks).'
      : top
        ? FAILURE_CAUSES[top]
        : 'Deliveries are failing.';
  // Failed attempts (not a webhook setting) are recovered by a redelivery once the receiver answers.
  const { configFile, probe } = input.redeliver;
  const action =
    !flagged.length && top
      ? `Once the receiver answers, redeliver, dry run first: \`hookwatch redeliver --config.file ${configFile} --probe ${probe} --since 6h\` (add --apply to send).`
      : undefined;
  return { ...verdict, reason: problems.join('; '), cause, ...(action ? { action } : {}) };
}

const fmt = (x: number) => x.toFixed(3);
