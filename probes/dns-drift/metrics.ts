// The dns_drift kind's metric families, all per host (registered by the core; written through a typed MetricSet).
import { defineMetrics } from '../../src/metrics/run-metrics.ts';

export const METRICS = defineMetrics({
  dns_drift: { type: 'gauge', help: "1 when the resolver's answer is not what the authoritative servers serve.", labels: ['host'] },
  dns_drift_duration_seconds: { type: 'gauge', help: 'How long the current drift has lasted; 0 when none.', labels: ['host'] },
  dns_drift_stale: { type: 'gauge', help: '1 when the current drift has outlasted the authoritative TTL plus the grace.', labels: ['host'] },
  dns_resolver_ttl_seconds: { type: 'gauge', help: 'TTL the resolver hands out for the host.', labels: ['host'] },
  dns_authoritative_ttl_seconds: { type: 'gauge', help: 'TTL the authoritative servers serve for the host.', labels: ['host'] },
  dns_ttl_inflated: { type: 'gauge', help: "1 when the resolver's TTL exceeds the authoritative TTL.", labels: ['host'] },
  dns_lookup_duration_seconds: { type: 'gauge', help: 'Duration of the last lookup of the host, by side (resolver, authoritative).', labels: ['host', 'side'] },
  dns_authoritative_disagreement: { type: 'gauge', help: "1 when the host's authoritative servers serve different answers.", labels: ['host'] },
  dns_resolver_failure: {
    type: 'gauge',
    help: '1 when the resolver fails (SERVFAIL, NXDOMAIN, timeout) while the authoritative servers answer.',
    labels: ['host'],
  },
  dns_authoritative_failure: {
    type: 'gauge',
    help: '1 when no authoritative server answered for the host, so its drift/TTL verdicts are unknown (and not exported).',
    labels: ['host'],
  },
  dns_rejected_packets_total: { type: 'counter', help: 'DNS packets rejected by the client (spoofed, mismatched or malformed).', labels: [] },
});
