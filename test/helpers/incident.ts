// The replayed incident's agent config, shared by the end-to-end test (test/e2e-incident.test.ts) and the
// detection benchmark (bench/detection.ts), so the figure the benchmark reports is for the setup the test proves:
// every interval 1s, the synthetic probe and BTCPay's deliveries both going through the TTL-inflating resolver.
import type { DnsLab } from './dns-lab.ts';

export interface IncidentWorld {
  lab: DnsLab;
  /** The receiver's host name (its A record is what migrates) and port. */
  host: string;
  receiverPort: number;
  btcpayUrl: string;
  storeId: string;
}

/** The agent config: delivery_rate, synthetic and dns_drift (and paid_latency when asked) against the incident world. */
export function incidentConfig(w: IncidentWorld, o: { paidLatency?: boolean } = {}): Record<string, unknown> {
  return {
    global: { interval: '1s', timeout: '900ms', resolver: 'system' },
    sources: { btcpay: { type: 'btcpay', url: w.btcpayUrl, apiKey: { env: 'BTCPAY_API_KEY' }, storeId: w.storeId } },
    probes: [
      { name: 'btcpay-delivery', type: 'delivery_rate', source: 'btcpay', window: '15m', paidEvents: ['InvoiceSettled'], thresholds: { min_deliveries: 3 } },
      ...(o.paidLatency
        ? [
            {
              name: 'btcpay-paid-latency',
              type: 'paid_latency',
              source: 'btcpay',
              window: '15m',
              paidEvents: ['InvoiceSettled'],
              thresholds: { max_undelivered_age_seconds: 5, max_median_seconds: 5 },
            },
          ]
        : []),
      // The signed synthetic webhook goes through the same inflating resolver as BTCPay does.
      {
        name: 'receiver-synthetic',
        type: 'synthetic',
        interval: '1s',
        mode: 'direct',
        targets: [`http://${w.host}:${w.receiverPort}/btcpay/webhook`],
        resolver: w.lab.badResolver,
        signing: { scheme: 'btcpay', secret: { env: 'WEBHOOK_SECRET' } },
        connectTimeout: '500ms',
        responseTimeout: '500ms',
        // 2 x a 1s interval is shorter than scrape + evaluation lag; production intervals are hours.
        thresholds: { stale_after_seconds: 10 },
      },
      {
        name: 'pay-dns',
        type: 'dns_drift',
        hosts: [w.host],
        resolver: w.lab.badResolver,
        authoritative: [w.lab.authoritative],
        recordTypes: ['A'],
        thresholds: { grace_seconds: 1 },
      },
    ],
  };
}
