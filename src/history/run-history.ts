// Run history per probe: the current state and since when, the last good run, and a short strip of
// recent runs. Kept in memory (bounded per probe): what on-call needs is "how long has this been
// failing, and was it flapping", not an archive; Prometheus keeps the long history.
import type { RunRecord } from '../scheduler/run-record.ts';
import { RunStrip, type RunPoint } from './run-strip.ts';

export type { RunPoint } from './run-strip.ts';

export interface Transition {
  probe: string;
  from: 'ok' | 'failing' | 'pending';
  to: 'ok' | 'failing';
  /** For a failing -> failing change: the severity it had before (TICKET -> PAGE is an escalation). */
  fromSeverity?: 'page' | 'ticket';
  at: number;
  /** How long the previous state lasted (ms), when there was one. */
  lastedMs?: number;
  reason?: string;
  severity?: 'page' | 'ticket';
}

export interface HistoryView {
  state: 'ok' | 'failing' | 'pending';
  /** Start of the current state (epoch ms): the first run of the streak, or earlier when the probe's evidence says so. */
  since: number | null;
  lastOkAt: number | null;
  lastFailAt: number | null;
  /** Oldest first. */
  recent: RunPoint[];
}

interface Track {
  state: 'ok' | 'failing';
  /** The strip of recent runs (run-strip.ts): a few numbers per run, not an object each. */
  recent: RunStrip;
  severity?: 'page' | 'ticket';
  /** Start of the current state at its current severity. */
  since: number;
  /** Start of the current state, whatever the severity (a ticket that escalated and came back). */
  streakSince: number;
  lastOkAt?: number;
  lastFailAt?: number;
}

export class RunHistory {
  readonly #byProbe = new Map<string, Track>();
  constructor(readonly maxRuns = 30) {}

  /** Record a finished run; returns the state change it made, if any. */
  record(probe: string, rec: RunRecord): Transition | undefined {
    const ok = rec.result.ok;
    const to = ok ? 'ok' : 'failing';
    const point: RunPoint = {
      runId: rec.runId,
      at: rec.finishedAt,
      ok,
      outcome: rec.outcome,
      severity: ok ? null : (rec.result.severity ?? 'page'),
      durationSeconds: Number(rec.durationSeconds.toFixed(3)),
    };
    // A failure the probe dates earlier than this run (a drift seen since T) started at T.
    const start = !ok && rec.result.since !== undefined && rec.result.since < rec.startedAt ? rec.result.since : rec.startedAt;
    let t = this.#byProbe.get(probe);
    let transition: Transition | undefined;
    if (!t) {
      t = { state: to, recent: new RunStrip(this.maxRuns), since: start, streakSince: start };
      this.#byProbe.set(probe, t);
      transition = { probe, from: 'pending', to, at: rec.finishedAt };
    } else if (t.state !== to) {
      transition = { probe, from: t.state, to, at: rec.finishedAt, lastedMs: Math.max(0, rec.finishedAt - t.streakSince) };
      t.state = to;
      t.since = t.streakSince = start;
    } else if (!ok && t.severity !== (rec.result.severity ?? 'page')) {
      // An escalation (TICKET -> PAGE) starts a new incident: "failing since" dates the page, not the
      // ticket; back at TICKET, the ticket's own start applies again.
      transition = { probe, from: 'failing', to, at: rec.finishedAt, fromSeverity: t.severity };
      t.since = rec.result.severity === 'ticket' ? t.streakSince : start;
    } else if (!ok && start < t.since) {
      t.since = start;
      if (start < t.streakSince) t.streakSince = start;
    }
    t.severity = ok ? undefined : (rec.result.severity ?? 'page');
    if (transition && !ok) {
      transition.reason = rec.result.reason;
      transition.severity = rec.result.severity ?? 'page';
    }
    if (ok) t.lastOkAt = rec.finishedAt;
    else t.lastFailAt = rec.finishedAt;
    t.recent.push(point);
    return transition;
  }

  get(probe: string): HistoryView {
    const t = this.#byProbe.get(probe);
    if (!t) return { state: 'pending', since: null, lastOkAt: null, lastFailAt: null, recent: [] };
    return { state: t.state, since: t.since, lastOkAt: t.lastOkAt ?? null, lastFailAt: t.lastFailAt ?? null, recent: t.recent.points() };
  }

  /** Forget probes no longer configured (a renamed probe starts a new history). */
  retain(names: string[]): void {
    for (const k of [...this.#byProbe.keys()]) if (!names.includes(k)) this.#byProbe.delete(k);
  }
}

/** "3m 20s", "2h 5m", "1d 4h": how long a state lasted, for logs and text output. */
export function formatLasted(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/**
 * `run` at info logs state changes only: OK→FAIL with the reason, FAIL→OK with how long it failed.
 * A first run that passes is not news; a first run that fails is.
 */
export function logTransition(log: { info: (o: object, msg: string) => void; debug: (o: object, msg: string) => void }, t: Transition): void {
  if (t.to === 'failing' && t.from === 'failing') {
    log.info(
      { transition: `${(t.fromSeverity ?? 'page').toUpperCase()}->${(t.severity ?? 'page').toUpperCase()}`, severity: t.severity, reason: t.reason },
      'probe severity changed',
    );
  } else if (t.to === 'failing') {
    log.info({ transition: `${t.from === 'pending' ? 'START' : 'OK'}->FAIL`, severity: t.severity, reason: t.reason }, 'probe failing');
  } else if (t.from === 'failing') {
    log.info(
      { transition: 'FAIL->OK', failed_for: formatLasted(t.lastedMs ?? 0), failed_for_seconds: Math.round((t.lastedMs ?? 0) / 1000) },
      'probe recovered',
    );
  } else {
    log.debug({ transition: 'START->OK' }, 'probe passing');
  }
}
