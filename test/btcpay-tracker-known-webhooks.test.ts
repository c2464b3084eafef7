// A tracker shared by readers that watch different webhooks (shared-log.ts) is sometimes polled for a subset: the
// per-webhook state of the others (a queue that may still be backed up) must survive such a poll.
import { describe, expect, it } from 'vitest';
import type { BtcpayClient } from '../src/clients/btcpay/client.ts';
import type { Delivery } from '../src/clients/btcpay/schemas.ts';
import { DeliveryTracker } from '../src/btcpay/tracker.ts';

const NOW = 1_800_000_000;
const logs: Record<string, Delivery[]> = {
  A: [{ id: 'a1', timestamp: NOW - 30, deliveryTime: NOW - 30, status: 'HttpSuccess', httpCode: 200 }],
  // B's receiver timed out: later events of B may still sit in BTCPay's queue behind this one.
  B: [{ id: 'b1', timestamp: NOW - 20, deliveryTime: NOW - 20, status: 'Failed', errorMessage: 'Connection timeout' }],
};
const client = {
  stats: { overlongLists: 0 },
  listDeliveries: async (wid: string, count: number) => (logs[wid] ?? []).slice(0, count),
} as unknown as BtcpayClient;

async function blockedAfterSubsetPoll(known?: string[]): Promise<string[]> {
  const t = new DeliveryTracker();
  await t.poll(client, ['A', 'B'], { nowSec: NOW, windowSec: 900, bodies: false });
  await t.poll(client, ['A'], { nowSec: NOW + 10, windowSec: 900, bodies: false, ...(known ? { knownWebhookIds: known } : {}) });
  const r = await t.poll(client, ['A', 'B'], { nowSec: NOW + 20, windowSec: 900, bodies: false });
  return r.blocked.map((b) => b.webhookId);
}

describe('tracker polled for a subset of its webhooks', () => {
  it('keeps the backlog state of a webhook another reader still watches', async () => {
    expect(await blockedAfterSubsetPoll(['A', 'B'])).toEqual(['B']);
  });
  it('drops it when no reader watches that webhook any more', async () => {
    expect(await blockedAfterSubsetPoll()).toEqual([]);
  });
});
