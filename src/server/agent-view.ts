// What the HTTP server needs from the running agent. The server depends on this, not on Agent, so the
// agent (which starts the server) and the server do not import each other.
import type { Logger } from 'pino';
import type { MetricRegistry } from '../metrics/registry.ts';
import type { ProbeKind } from '../probe/types.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';

export type ReloadResult = { ok: true; probes: number } | { ok: false; error: string };

export interface AgentView {
  readonly registry: MetricRegistry;
  readonly scheduler: Pick<Scheduler, 'status' | 'runLogs' | 'history'>;
  readonly ready: boolean;
  readonly lastReloadError?: string;
  readonly opts: { readonly configFile: string; readonly enableLifecycle?: boolean; readonly log: Logger; readonly kinds: readonly ProbeKind[] };
  reload(): ReloadResult;
}
