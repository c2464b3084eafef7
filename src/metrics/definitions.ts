// The core's metric contract: names (without the hookwatch_ prefix), types, help and label names of the
// series every probe has. A kind declares its own families beside its code (defineMetrics, metrics.ts).
export type MetricType = 'gauge' | 'counter' | 'histogram';

export interface MetricDef {
  name: string;
  type: MetricType;
  help: string;
  /** Label names besides `probe`, which every probe series carries. */
  labelNames: string[];
  buckets?: number[];
}

export const PREFIX = 'hookwatch_';

export const CONTRACT_METRICS: MetricDef[] = [
  { name: 'probe_success', type: 'gauge', help: 'Whether the last run of the probe passed (1) or failed (0).', labelNames: ['type'] },
  { name: 'probe_duration_seconds', type: 'gauge', help: "Duration of the probe's last run.", labelNames: ['type'] },
  { name: 'probe_last_run_timestamp_seconds', type: 'gauge', help: 'Unix time the last run finished.', labelNames: ['type'] },
  { name: 'probe_runs_total', type: 'counter', help: 'Probe runs by result (success, failure, timeout, error).', labelNames: ['type', 'result'] },
  { name: 'probe_interval_seconds', type: 'gauge', help: 'Configured interval of the probe.', labelNames: ['type'] },
  {
    name: 'probe_threshold',
    type: 'gauge',
    help: 'Alert threshold in effect for the probe, in base units; rules compare against it.',
    labelNames: ['type', 'threshold'],
  },
];

/**
 * Labels a probe may scope all its series by (ProbeMetrics.scoped), e.g. `store` when one BTCPay probe watches
 * several stores. Every metric accepts them; a series without scope has none, so its exposition is unchanged.
 */
export const SCOPE_LABELS = ['store'] as const;
