// The JSON view shared by /status, `once --format json` and the status page. Results already had
// secrets scrubbed by the scheduler; Secret objects serialise as their reference, so a stray one
// still prints safely.
import type { AgentView } from './agent-view.ts';
import type { RunRecord } from '../scheduler/run-record.ts';
import type { HistoryView } from '../history/run-history.ts';

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function runView(name: string, type: string, rec: RunRecord | undefined, o: { history?: HistoryView; runbook?: string } = {}) {
  const r = rec?.result;
  const h = o.history;
  return {
    name,
    type,
    ok: rec ? rec.result.ok : null,
    state: h?.state ?? (rec ? (rec.result.ok ? 'ok' : 'failing') : 'pending'),
    /** page (an outage) or ticket (latent); null while passing. */
    severity: r && !r.ok ? (r.severity ?? 'page') : null,
    outcome: rec?.outcome ?? 'pending',
    reason: r?.reason ?? null,
    cause: r?.cause ?? null,
    /** What ends the outage now. */
    action: r?.action ?? null,
    /** What keeps it from recurring. */
    fix: r?.fix ?? null,
    /** Destination hosts whose delivery failures this result explains. */
    explains: r?.explains ?? [],
    /** Start of the current state (failing since / OK since). */
    since: iso(h?.since ?? (rec ? (!rec.result.ok && rec.result.since !== undefined ? Math.min(rec.result.since, rec.startedAt) : rec.startedAt) : null)),
    lastOkAt: iso(h ? h.lastOkAt : rec?.result.ok ? rec.finishedAt : null),
    runbook: r?.runbook ?? o.runbook ?? null,
    history: (h?.recent ?? []).map((p) => ({ at: iso(p.at), ok: p.ok, severity: p.severity, outcome: p.outcome, runId: p.runId })),
    details: r?.details ?? {},
    runId: rec?.runId ?? null,
    startedAt: iso(rec?.startedAt),
    finishedAt: iso(rec?.finishedAt),
    durationSeconds: rec?.durationSeconds ?? null,
  };
}

export type RunView = ReturnType<typeof runView>;

/** Hosts a probe delivers to, from its own series: webhook destinations and synthetic target URLs. */
export function destinationsOf(agent: Pick<AgentView, 'registry'>, probe: string): string[] {
  const hosts = new Set(agent.registry.labelValues(probe, 'destination').map((h) => h.toLowerCase()));
  for (const t of agent.registry.labelValues(probe, 'target')) {
    try {
      hosts.add(new URL(t).hostname.toLowerCase());
    } catch {
      /* a target label that is not a URL names no host */
    }
  }
  return [...hosts];
}

/**
 * The likely root cause of each failing probe: another probe whose result explains a host this one
 * delivers to (a DNS drift on host H explains the delivery, latency and synthetic failures for H),
 * the same reasoning as the Alertmanager inhibition.
 */
export function rootCauses(
  views: Array<Pick<RunView, 'name' | 'ok' | 'explains'>>,
  destinations: (probe: string) => string[],
): Map<string, { probe: string; host: string }> {
  const out = new Map<string, { probe: string; host: string }>();
  const explainers = views.filter((v) => v.explains.length > 0);
  for (const v of views) {
    if (v.ok !== false || v.explains.length) continue;
    const dest = destinations(v.name);
    for (const e of explainers) {
      const host = e.explains.find((h) => dest.includes(h));
      if (host && e.name !== v.name) {
        out.set(v.name, { probe: e.name, host });
        break;
      }
    }
  }
  return out;
}

export function statusView(agent: AgentView) {
  const kinds = agent.opts.kinds;
  const probes = agent.scheduler.status().map((p) => ({
    ...runView(p.name, p.type, p.last, { history: agent.scheduler.history.get(p.name), runbook: kinds.find((k) => k.type === p.type)?.runbook }),
    intervalSeconds: p.intervalSeconds,
    timeoutSeconds: p.timeoutSeconds,
    runs: p.runs,
    skippedRuns: p.skipped,
    running: p.running,
    nextRunAt: p.nextRunAt ?? null,
  }));
  const causes = rootCauses(probes, (n) => destinationsOf(agent, n));
  return {
    ready: agent.ready,
    config: { file: agent.opts.configFile, lastReloadSuccessful: agent.lastReloadError === undefined, lastReloadError: agent.lastReloadError ?? null },
    probes: probes.map((p) => ({ ...p, likelyRootCause: causes.get(p.name) ?? null })),
  };
}

export type StatusView = ReturnType<typeof statusView>;
