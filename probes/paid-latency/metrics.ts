// The paid_latency kind's metric families (registered by the core; the run writes them through a typed MetricSet).
import { defineMetrics } from '../../src/metrics/run-metrics.ts';
import { DESTINATION_METRICS } from '../../src/btcpay/destinations.ts';

/** Buckets for paid-to-delivered: the 30 s target and the 5 min page threshold are bucket edges. */
export const LATENCY_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400] as const;

export const METRICS = defineMetrics({
  paid_to_delivered_seconds: {
    type: 'histogram',
    help: 'Paid event to first successful webhook delivery.',
    labels: ['method'],
    buckets: LATENCY_BUCKETS,
  },
  paid_to_delivered_median_seconds: {
    type: 'gauge',
    help: 'Median paid-to-delivered over the window, undelivered events counted at their current age.',
    labels: [],
  },
  undelivered_paid_events: { type: 'gauge', help: 'Paid events with no successful delivery yet.', labels: [] },
  oldest_undelivered_paid_event_age_seconds: { type: 'gauge', help: 'Age of the oldest undelivered paid event; 0 when none.', labels: [] },
  ...DESTINATION_METRICS,
});
