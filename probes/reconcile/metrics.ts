// The reconcile kind's metric families (registered by the core; the run writes them through a typed MetricSet).
import { defineMetrics } from '../../src/metrics/run-metrics.ts';

export const METRICS = defineMetrics({
  reconcile_missing_records: { type: 'gauge', help: 'Paid at the sender, absent in the internal records, past the grace.', labels: [] },
  reconcile_orphan_records: { type: 'gauge', help: 'In the internal records, not paid at the sender.', labels: [] },
  reconcile_oldest_missing_age_seconds: { type: 'gauge', help: 'Age of the oldest missing record; 0 when none.', labels: [] },
  reconcile_mismatched_records: { type: 'gauge', help: 'Paid at the sender and recorded internally, but with a different amount or currency.', labels: [] },
  reconcile_pending_records: { type: 'gauge', help: 'Paid at the sender within the grace period and not recorded yet (not counted as missing).', labels: [] },
  reconcile_paid_invoices: { type: 'gauge', help: 'Paid invoices at the sender in the window (the population compared).', labels: [] },
});
