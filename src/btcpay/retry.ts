// BTCPay's automatic-retry loop, in one place (BTCPay: BTCPayServer/Plugins/Webhooks/WebhookSender.cs, Process).
// After a retryable failure (no response, 5xx, 408, 429) it waits 10 s, 1 min, then 10 min six times: 9 attempts.
// The webhook HttpClients set no timeout (WebhooksPlugin.cs), so .NET's default of 100 s bounds every attempt.

/** Waits after attempt 1..8. */
export const RETRY_SCHEDULE_MS: readonly number[] = [10_000, 60_000, ...Array<number>(6).fill(600_000)];
/** .NET HttpClient.Timeout default: what one attempt to a receiver that never answers costs. */
export const ATTEMPT_TIMEOUT_MS = 100_000;
export const MAX_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;

/** Longest gap between two rows of one retry loop: the longest wait plus a full attempt. */
export const MAX_RETRY_GAP_SEC = Math.ceil((Math.max(...RETRY_SCHEDULE_MS) + ATTEMPT_TIMEOUT_MS) / 1000);

/** Longest one event can hold its webhook's queue: every wait plus every attempt timing out (~76 min). */
export const RETRY_CYCLE_SEC = Math.ceil((RETRY_SCHEDULE_MS.reduce((s, x) => s + x, 0) + MAX_ATTEMPTS * ATTEMPT_TIMEOUT_MS) / 1000);

/**
 * How long after its newest row an event may still get another automatic attempt: a follow-up row younger than
 * this means BTCPay's own loop may still be working on it, so a manual redelivery now could deliver it twice.
 * Slack covers clock skew between BTCPay and us and the time to write the row.
 */
export const REDELIVERY_PENDING_SEC = MAX_RETRY_GAP_SEC + 60;

/** Does BTCPay (2.3.4+) retry a delivery that ended with this HTTP code (null: no response)? */
export function isRetryable(httpCode: number | null | undefined): boolean {
  if (httpCode === null || httpCode === undefined) return true;
  return (httpCode >= 500 && httpCode <= 599) || httpCode === 429 || httpCode === 408;
}
