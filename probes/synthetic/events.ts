// Realistic synthetic events per signing scheme. Every one is marked synthetic in three ways a
// receiver can key on (a header, a __test__ invoice id as BTCPay's old UI test used, and a metadata
// flag) so the internal system can record the receipt without fulfilling anything.
import { randomBytes } from 'node:crypto';
import { sign, type SigningScheme } from '../../src/signing/index.ts';
import { base58Id } from '../../src/btcpay/ids.ts';

export { base58Id };

export interface SyntheticEvent {
  /** What the receipt URL is keyed by: BTCPay deliveryId, Stripe event id, Standard Webhooks webhook-id. */
  deliveryId: string;
  body: string;
  /** Unix seconds the event is signed with (and carries). */
  timestamp: number;
}

export function buildEvent(scheme: SigningScheme, nowMs: number, opts: { timestamp?: number } = {}): SyntheticEvent {
  const ts = opts.timestamp ?? Math.floor(nowMs / 1000);
  const tag = `__test__${base58Id()}__test__`;
  if (scheme === 'btcpay') {
    const deliveryId = base58Id();
    // Field order and 2-space indentation as BTCPay sends a first delivery (docs/btcpay-greenfield.md §5).
    const body = {
      manuallyMarked: false,
      overPaid: false,
      deliveryId,
      webhookId: 'hookwatch-synthetic',
      originalDeliveryId: deliveryId,
      isRedelivery: false,
      type: 'InvoiceSettled',
      timestamp: ts,
      storeId: 'hookwatch-synthetic',
      invoiceId: tag,
      metadata: { orderId: `hookwatch-synthetic-${deliveryId}`, hookwatchSynthetic: true },
    };
    return { deliveryId, body: JSON.stringify(body, null, 2), timestamp: ts };
  }
  if (scheme === 'stripe') {
    const id = `evt_hookwatch_${base58Id()}`;
    const body = {
      id,
      object: 'event',
      api_version: '2024-06-20',
      created: ts,
      livemode: false,
      type: 'invoice.paid',
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: { id: `in_${tag}`, object: 'invoice', amount_paid: 0, currency: 'usd', status: 'paid', metadata: { hookwatch_synthetic: 'true' } } },
    };
    return { deliveryId: id, body: JSON.stringify(body), timestamp: ts };
  }
  const id = `msg_${base58Id()}`;
  const body = {
    type: 'invoice.paid',
    timestamp: new Date(ts * 1000).toISOString(),
    data: { invoiceId: tag, amount: '0', currency: 'USD', status: 'paid', synthetic: true },
  };
  return { deliveryId: id, body: JSON.stringify(body), timestamp: ts };
}

export function signedHeaders(scheme: SigningScheme, ev: SyntheticEvent, secret: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'hookwatch-synthetic/0.1',
    'x-hookwatch-synthetic': '1',
    ...sign(scheme, { body: ev.body, secret, timestamp: ev.timestamp, id: ev.deliveryId }),
  };
}

/** A secret of the same shape as the real one, which certainly is not it. */
export function wrongSecret(scheme: SigningScheme, real: string): string {
  for (let i = 0; i < 3; i++) {
    const s = scheme === 'btcpay' ? base58Id() : 'whsec_' + randomBytes(24).toString('base64');
    if (s !== real) return s;
  }
  return real + 'x';
}
