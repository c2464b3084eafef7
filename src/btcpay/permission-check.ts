// The start-up check of a source's API key, done once per source and shared by every probe that uses it: one
// GET /api/v1/api-keys/current, cached by source (url and a hash of the key, so a rotated key is checked
// again; not by store: a key's permissions are the same whichever store asks, so a source watching many
// stores checks once). Each probe then asks for the policies it needs. A later 401/403 from any probe drops the cache entry.
import { createHash } from 'node:crypto';
import { BtcpayError, type BtcpayClient, type CallOpts } from '../clients/btcpay/client.ts';
import { missingPermissions } from './permissions.ts';
import { explainApiError, type BtcpaySource } from './source.ts';

const held = new Map<string, Promise<string[]>>();
/** Sources are few; the cap only guards against a config generator gone wild. */
const MAX_ENTRIES = 256;

function keyOf(s: BtcpaySource): string {
  return `${s.url}|${createHash('sha256').update(s.apiKey.reveal()).digest('hex')}`;
}

/** The policies (from `required`) the source's key lacks on its store; [] when all are held. */
export async function missingForSource(s: BtcpaySource, client: BtcpayClient, required: readonly string[], o: CallOpts = {}): Promise<string[]> {
  const k = keyOf(s);
  let p = held.get(k);
  if (!p) {
    if (held.size >= MAX_ENTRIES) held.clear();
    p = client.currentApiKey(o).then((r) => r.permissions);
    held.set(k, p);
    // A failed check is not cached: the next caller asks again.
    p.catch(() => held.get(k) === p && held.delete(k));
  }
  return missingPermissions(await p, required, s.storeId);
}

/** Forget a source's checked permissions (after a 401/403, or when its key changed). */
export function forgetPermissions(s: BtcpaySource): void {
  held.delete(keyOf(s));
}

/**
 * Reason and cause of a failed poll of a BTCPay probe. A refused key (401/403) also forgets the passed permission
 * check, the source's shared one and the probe's own (`key.forget`), so the next run checks the key again;
 * `key.checked`: whether it had passed, which changes what a 403 means (explainApiError).
 */
export function pollFailure(e: unknown, src: BtcpaySource, key: { checked: boolean; forget(): void }): { reason: string; cause: string } {
  if (e instanceof BtcpayError && e.kind === 'permission') {
    key.forget();
    forgetPermissions(src);
  }
  return explainApiError(e, { keyChecked: key.checked });
}
