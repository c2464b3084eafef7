// The synthetic kind's metric families, per target (registered by the core; written through a typed MetricSet).
import { defineMetrics } from '../../src/metrics/run-metrics.ts';

export const METRICS = defineMetrics({
  synthetic_success: { type: 'gauge', help: 'Whether the last synthetic webhook to the target passed.', labels: ['target'] },
  synthetic_last_success_timestamp_seconds: { type: 'gauge', help: 'Unix time of the last passing synthetic webhook to the target.', labels: ['target'] },
  synthetic_phase_duration_seconds: { type: 'gauge', help: 'Duration of each phase of the last synthetic webhook.', labels: ['target', 'phase'] },
  synthetic_connection_info: { type: 'gauge', help: 'Address the last synthetic webhook to the target connected to (value 1).', labels: ['target', 'address'] },
  synthetic_failure_class: {
    type: 'gauge',
    help: 'Why the last synthetic webhook to the target failed: 1 for the class of the failure, 0 for the others; all 0 on success.',
    labels: ['target', 'class'],
  },
  synthetic_security_check_passed: {
    type: 'gauge',
    help: 'Receiver security check outcome (bad_signature, replay, duplicate): 1 passed, 0 failed; absent when skipped.',
    labels: ['target', 'check'],
  },
});
