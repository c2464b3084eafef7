// The delivery_rate kind's metric families (registered by the core; the run writes them through a typed MetricSet).
import { defineMetrics } from '../../src/metrics/run-metrics.ts';
import { DESTINATION_METRICS } from '../../src/btcpay/destinations.ts';

export const METRICS = defineMetrics({
  webhook_deliveries_total: {
    type: 'counter',
    help: 'Webhook delivery attempts seen, by outcome (success, http_error, failed).',
    labels: ['outcome'],
  },
  webhook_delivery_failures_total: {
    type: 'counter',
    help: 'Failed delivery attempts by reason (dns, timeout, refused, unreachable, reset, tls, http_4xx, http_5xx, other).',
    labels: ['reason'],
  },
  webhook_delivery_success_ratio: { type: 'gauge', help: "Delivery success ratio per attempt over the probe's window.", labels: [] },
  webhook_event_success_ratio: {
    type: 'gauge',
    help: "Share of events (first attempt and its retries) eventually delivered, over the probe's window.",
    labels: [],
  },
  webhook_delivery_backlog_seconds: {
    type: 'gauge',
    help: 'Longest wait in the per-webhook queue (deliveryTime - timestamp) among deliveries in the window.',
    labels: [],
  },
  webhook_delivery_window_count: {
    type: 'gauge',
    help: 'Deliveries in the window, per attempt or per event; the volume guard of the success-ratio alert.',
    labels: ['basis'],
  },
  webhook_misconfigured: {
    type: 'gauge',
    help: 'A webhook setting that silently stops or degrades deliveries (1 when set).',
    labels: ['webhook', 'check'],
  },
  ...DESTINATION_METRICS,
});
