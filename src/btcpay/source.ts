// From a configured btcpay source to a client, and from API errors to a reason and a likely cause; shared by the
// BTCPay probes and the redeliver command.
import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { ProbeContext, SourceConfig } from '../probe/types.ts';
import { BtcpayClient, BtcpayError } from '../clients/btcpay/client.ts';
import { BUDGET_CAUSE, budgetFor } from './budget.ts';

export type BtcpaySource = Extract<SourceConfig, { type: 'btcpay' }>;

/** sha256 of each API key, by its Secret: a source's key is computed once, not on every poll. */
const keyHashes = new WeakMap<BtcpaySource['apiKey'], string>();

/**
 * What identifies a source for what is shared between probes (store lists, delivery logs): its name, url and a hash
 * of its key (the key itself is never kept); with a store id, one store of it.
 */
export function sourceKey(s: BtcpaySource, storeId?: string): string {
  let hash = keyHashes.get(s.apiKey);
  if (hash === undefined) keyHashes.set(s.apiKey, (hash = createHash('sha256').update(s.apiKey.reveal()).digest('hex')));
  return `${s.name}|${s.url}|${hash}${storeId === undefined ? '' : `|${storeId}`}`;
}

/** Look up a btcpay source by name; a readable message instead of a throw when it is missing or of another type. */
export function btcpaySource(ctx: Pick<ProbeContext, 'source'>, name: string): BtcpaySource | string {
  let s: SourceConfig;
  try {
    s = ctx.source(name);
  } catch {
    return `source "${name}" is not defined`;
  }
  return s.type === 'btcpay' ? s : `source "${name}" is of type ${s.type}, expected btcpay`;
}

/** A client for a source. Per-call timeout: the source's, else a share of the probe's timeout (one poll makes several calls). */
export function clientFromSource(s: BtcpaySource, probeTimeoutMs?: number, dispatcher?: Dispatcher): BtcpayClient {
  const timeoutMs = s.timeoutMs ?? Math.max(1000, Math.min(10_000, Math.floor((probeTimeoutMs ?? 20_000) / 2)));
  const budget = budgetFor(s);
  return new BtcpayClient({
    url: s.url,
    apiKey: s.apiKey,
    storeId: s.storeId,
    timeoutMs,
    ...(dispatcher ? { dispatcher } : {}),
    ...(budget ? { beforeRequest: budget.guard(s.name) } : {}),
  });
}

/**
 * Reason and likely cause for an API failure, for ProbeResult. `keyChecked`: the key's permissions were checked
 * and held, so a 403 comes from elsewhere (store role, unknown store or id).
 */
export function explainApiError(e: unknown, o: { keyChecked?: boolean } = {}): { reason: string; cause: string } {
  if (!(e instanceof BtcpayError)) {
    return { reason: `BTCPay API: ${(e as Error)?.message ?? String(e)}`, cause: 'Unexpected error while talking to BTCPay; see the log.' };
  }
  const cause: Record<BtcpayError['kind'], string> = {
    network: 'BTCPay is unreachable from the agent (connection refused, reset or DNS); check the source url and network path.',
    timeout: 'BTCPay answered too slowly; it may be overloaded, or the probe timeout is too short for the store size.',
    http: 'BTCPay returned an error status; check its logs.',
    malformed: 'BTCPay (or a proxy in front of it) returned something that is not the Greenfield API response: check the source url and any proxy.',
    too_large: 'The response exceeded the size limit; the store may be very busy, or a proxy returned something else.',
    permission:
      'The API key lacks a permission or is invalid (BTCPay may also answer 403 for an id that does not exist): create a key with ' +
      'btcpay.store.webhooks.canmodifywebhooks and btcpay.store.canviewinvoices for this store, and check storeId/webhookId.',
    not_found: 'The store, webhook or invoice does not exist (or the key may not see it): check storeId and webhookId.',
    pruned: 'The delivery body was pruned by BTCPay (older than 60 days).',
    budget: BUDGET_CAUSE,
  };
  if (e.kind === 'permission' && e.status === 403 && o.keyChecked) {
    return {
      reason: `BTCPay API (${e.kind}): ${e.message}`,
      cause:
        "The API key holds the permission, yet BTCPay refuses: a key's rights are its permissions limited by its user's role in the store " +
        '(Employee and Guest cannot modify webhooks), or the storeId (or an id in the path) does not exist, which BTCPay also answers with 403. ' +
        "Check the key owner's store role and the configured ids.",
    };
  }
  return { reason: `BTCPay API (${e.kind}): ${e.message}`, cause: cause[e.kind] };
}
