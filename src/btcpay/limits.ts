// Bounds on what one BTCPay source can make a probe hold or export, so a huge or hostile server costs bounded
// memory, series and /status size. Above a bound the probe fails with a reason that says which and how to proceed.

/** Webhooks a probe watches with per-webhook series (webhook_misconfigured{webhook}) and per-webhook list calls. */
export const DEFAULT_MAX_WEBHOOKS = 100;
/** Distinct destination hosts exported as webhook_destination_info. */
export const MAX_DESTINATIONS = 50;
/** Invoices whose paid state paid_latency remembers between polls. */
export const MAX_TRACKED_INVOICES = 50_000;
/** Entries of a list in a probe's details (the rest are counted). */
export const MAX_DETAIL_ITEMS = 50;
/** Items named in a reason (the rest are counted). */
export const MAX_REASON_ITEMS = 10;

export function tooManyWebhooks(n: number, max: number, storeId: string): { reason: string; cause: string } {
  return {
    reason: `store ${storeId} has ${n} webhooks, more than the ${max} this probe watches (one list call and one series set per webhook)`,
    cause: 'Set webhookId to the webhook that carries the payment events, or raise maxWebhooks if the store really has this many.',
  };
}

/** "a, b, c and 7 more" */
export function listSome(items: string[], max = MAX_REASON_ITEMS): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
