// Does a webhook receive an event type? BTCPay delivers when the webhook is active and its filter matches
// (BTCPay: BTCPayServer/Plugins/Webhooks/WebhookDataExtensions.cs, WebhookBlob.ShouldDeliver; the filter is
// `everything` or the type listed in `specificEvents`).
import type { Webhook } from '../clients/btcpay/schemas.ts';

type Hook = Pick<Webhook, 'authorizedEvents'> & Partial<Pick<Webhook, 'enabled'>>;

export function subscribesTo(h: Hook, type: string): boolean {
  return h.authorizedEvents.everything || (h.authorizedEvents.specificEvents ?? []).includes(type);
}

/** Subscribed to every one of `types`. */
export function subscribesToAll(h: Hook, types: readonly string[]): boolean {
  return types.every((t) => subscribesTo(h, t));
}

/** Subscribed to at least one of `types`. */
export function subscribesToAny(h: Hook, types: readonly string[]): boolean {
  return types.some((t) => subscribesTo(h, t));
}

/** Would BTCPay send an event of this type to the webhook now (enabled and subscribed)? */
export function wouldDeliver(h: Hook, type: string): boolean {
  return h.enabled !== false && subscribesTo(h, type);
}
