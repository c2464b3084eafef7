// The JSON view shared by /status and `once --format json`. Results already had secrets scrubbed by
// the scheduler; Secret objects serialise as their reference, so a stray one still prints safely.
import type { AgentView } from './agent-view.ts';
import type { RunRecord } from '../scheduler/scheduler.ts';

export function runView(name: string, type: string, rec: RunRecord | undefined) {
  return {
    name,
    type,
    ok: rec ? rec.result.ok : null,
    outcome: rec?.outcome ?? 'pending',
    reason: rec?.result.reason ?? null,
    cause: rec?.result.cause ?? null,
    details: rec?.result.details ?? {},
    runId: rec?.runId ?? null,
    startedAt: rec ? new Date(rec.startedAt).toISOString() : null,
    finishedAt: rec ? new Date(rec.finishedAt).toISOString() : null,
    durationSeconds: rec?.durationSeconds ?? null,
  };
}

export function statusView(agent: AgentView) {
  return {
    ready: agent.ready,
    config: { file: agent.opts.configFile, lastReloadSuccessful: agent.lastReloadError === undefined, lastReloadError: agent.lastReloadError ?? null },
    probes: agent.scheduler.status().map((p) => ({
      ...runView(p.name, p.type, p.last),
      intervalSeconds: p.intervalSeconds,
      timeoutSeconds: p.timeoutSeconds,
      runs: p.runs,
      skippedRuns: p.skipped,
      running: p.running,
      nextRunAt: p.nextRunAt ?? null,
    })),
  };
}
