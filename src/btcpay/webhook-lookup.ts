// Reading a configured webhook. Since BTCPay 2.4.0 an unknown or deleted webhook id answers 403 missing-permission,
// like a key that lacks the permission (the id is resolved to a store before authorization: BTCPayServer/Security/
// BuiltInPermissionScopeProvider.cs). To tell a mistyped webhookId from a permission problem, list the store's
// webhooks: when that works and the id is not among them, say so.
import { BtcpayError, type BtcpayClient, type CallOpts } from '../clients/btcpay/client.ts';
import type { Webhook } from '../clients/btcpay/schemas.ts';

export async function getConfiguredWebhook(client: BtcpayClient, webhookId: string, o: CallOpts = {}): Promise<Webhook> {
  try {
    return await client.getWebhook(webhookId, o);
  } catch (e) {
    if (!(e instanceof BtcpayError) || (e.kind !== 'permission' && e.kind !== 'not_found') || e.status === 401) throw e;
    let hooks: Webhook[];
    try {
      hooks = await client.listWebhooks(o);
    } catch {
      throw e; // the store's list is refused too: a real permission (or unknown store) problem
    }
    if (hooks.some((h) => h.id === webhookId)) throw e;
    const known = hooks
      .slice(0, 5)
      .map((h) => h.id)
      .join(', ');
    const list = known ? `: ${known}${hooks.length > 5 ? ', ...' : ''}` : '';
    throw new BtcpayError(
      `webhook ${webhookId} does not exist in store ${client.storeId} ` +
        `(BTCPay answers 403 for an unknown webhook id; the store has ${hooks.length} webhook(s)${list})`,
      'not_found',
      e.status,
      'webhook-not-found',
    );
  }
}
