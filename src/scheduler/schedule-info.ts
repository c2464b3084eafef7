// Where a probe's effective interval and timeout come from, for `hookwatch check`: the precedence
// (probe, then the kind's default, then global) is easy to misread, e.g. synthetic ignores
// global.interval on purpose. Values equal to a default are reported as that default.
import type { LoadedConfig, ProbeBase, ProbeKind } from '../probe/types.ts';

export interface ScheduleInfo {
  name: string;
  type: string;
  intervalSeconds: number;
  intervalFrom: 'probe' | 'kind default' | 'global.interval';
  timeoutSeconds: number;
  timeoutFrom: 'probe' | 'kind default' | 'global.timeout' | 'global.timeout, capped at the interval';
}

export function scheduleInfo(p: ProbeBase & Record<string, unknown>, config: LoadedConfig, kinds: ReadonlyArray<ProbeKind>): ScheduleInfo {
  const kind = kinds.find((k) => k.type === p.type);
  const g = config.global;
  const intervalFrom: ScheduleInfo['intervalFrom'] =
    kind?.defaultIntervalMs !== undefined
      ? p.intervalMs === kind.defaultIntervalMs
        ? 'kind default'
        : 'probe'
      : p.intervalMs === g.intervalMs
        ? 'global.interval'
        : 'probe';
  let timeoutFrom: ScheduleInfo['timeoutFrom'] = 'probe';
  if (kind?.defaultTimeoutMs && p.timeoutMs === kind.defaultTimeoutMs(p)) timeoutFrom = 'kind default';
  else if (!kind?.defaultTimeoutMs && p.timeoutMs === Math.min(g.timeoutMs, p.intervalMs))
    timeoutFrom = g.timeoutMs > p.intervalMs ? 'global.timeout, capped at the interval' : 'global.timeout';
  return { name: p.name, type: p.type, intervalSeconds: p.intervalMs / 1000, intervalFrom, timeoutSeconds: p.timeoutMs / 1000, timeoutFrom };
}

const dur = (s: number) => (s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`);

export function formatScheduleInfo(i: ScheduleInfo): string {
  const from = (f: string) => (f === 'kind default' ? `${i.type} default` : f);
  return `  ${i.name} (${i.type}): every ${dur(i.intervalSeconds)} (${from(i.intervalFrom)}), timeout ${dur(i.timeoutSeconds)} (${from(i.timeoutFrom)})`;
}
