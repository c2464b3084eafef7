// The webhook settings that silently stop or degrade deliveries, read from the webhook list (and the redirects the
// synthetic probes saw), and what each one means for the operator.
import type { Webhook } from '../../src/clients/btcpay/schemas.ts';
import { subscribesToAll } from '../../src/btcpay/subscriptions.ts';
import { redirectConsequence, redirectOf, urlKey } from '../../src/btcpay/redirects.ts';
import type { TestedDestinations } from '../../src/probe/types.ts';

export const MISCONFIG_CHECKS = ['disabled', 'redelivery_off', 'paid_event_unsubscribed', 'url_host_unchecked', 'url_unchecked', 'url_redirects'] as const;
export type Check = (typeof MISCONFIG_CHECKS)[number];

export interface SyntheticTargets {
  hosts: Set<string>;
  urls: Set<string>;
}

/** Hosts and URLs the synthetic probes send to; a webhook pointing elsewhere is not covered by the synthetic check. */
export function syntheticTargets(d: TestedDestinations): SyntheticTargets | undefined {
  if (!d.probes.length) return undefined;
  return { hosts: new Set(d.targets.map((t) => t.host)), urls: new Set(d.targets.map((t) => urlKey(t.url))) };
}

/** The checks each webhook trips, by webhook id. */
export function checkWebhooks(hooks: Webhook[], paidEvents: string[], synthetic: SyntheticTargets | undefined, nowMs = Date.now()): Map<string, Set<Check>> {
  const out = new Map<string, Set<Check>>();
  for (const h of hooks) {
    const s = new Set<Check>();
    if (!h.enabled) s.add('disabled');
    if (!h.automaticRedelivery) s.add('redelivery_off');
    if (!subscribesToAll(h, paidEvents)) s.add('paid_event_unsubscribed');
    if (synthetic) {
      let host = '';
      try {
        host = new URL(h.url).hostname.toLowerCase();
      } catch {
        /* unparsable url: certainly not what the synthetic probe checks */
      }
      if (!synthetic.hosts.has(host)) s.add('url_host_unchecked');
      // btcpay-mode synthetic probes have no targets: they test whatever URLs the store's webhooks have.
      else if (synthetic.urls.size && !synthetic.urls.has(urlKey(h.url))) s.add('url_unchecked');
    }
    if (redirectOf(h.url, nowMs)) s.add('url_redirects');
    out.set(h.id, s);
  }
  return out;
}

export function misconfigCause(c: Check, paidEvents: string[]): string {
  switch (c) {
    case 'disabled':
      return 'A webhook is disabled: BTCPay drops events for it without any record. Re-enable it, then run hookwatch redeliver.';
    case 'redelivery_off':
      return 'Automatic redelivery is off (the UI default): one failed attempt is never retried. Turn it on in the webhook settings.';
    case 'paid_event_unsubscribed':
      return `The webhook is not subscribed to ${paidEvents.join(', ')}: paid invoices never reach the receiver. Subscribe it (or "everything").`;
    case 'url_unchecked':
      return 'The webhook URL is not one the synthetic probes test (same host, different path, scheme or port): the end-to-end check passes while BTCPay posts elsewhere. Make the synthetic target the exact webhook URL.';
    case 'url_redirects':
      return `A webhook URL answered the synthetic probe with a redirect: ${redirectConsequence(302)}. Put the final URL in the webhook settings.`;
    case 'url_host_unchecked':
      return 'The webhook URL host differs from the synthetic probe targets: the end-to-end check tests a different endpoint than BTCPay uses.';
  }
}
