// The hosts a store's webhooks deliver to, as the BTCPay kinds export them: one `webhook_destination_info`
// series per distinct lower-cased host. The alert rules join on it to name the destination a DNS drift inhibits on.
import { defineMetrics } from '../metrics/run-metrics.ts';
import { MAX_DESTINATIONS } from './limits.ts';

/** Declared by every kind that exports destinations (delivery_rate, paid_latency): one family, one shape. */
export const DESTINATION_METRICS = defineMetrics({
  webhook_destination_info: {
    type: 'gauge',
    help: 'Lower-cased host of a webhook URL the probe watches (1); alert rules join on it to name the destination that HookwatchDNSDrift inhibits on.',
    labels: ['destination'],
  },
});

/** Distinct lower-cased hosts of webhook URLs, at most MAX_DESTINATIONS (a bounded label set). */
export function destinationHosts(urls: Iterable<string>): string[] {
  const hosts = new Set<string>();
  for (const u of urls) {
    if (hosts.size >= MAX_DESTINATIONS) break; // the webhook checks report the webhooks themselves
    try {
      const host = new URL(u).hostname.toLowerCase();
      if (host) hosts.add(host);
    } catch {
      /* an unparsable URL names no host; the webhook checks report it */
    }
  }
  return [...hosts];
}
