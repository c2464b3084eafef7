import { describe, expect, it } from 'vitest';
import { MAX_TRACKED_INVOICES } from '../../src/btcpay/limits.ts';
import { capState, deliveredTo, forgetOld, stateOf, trackInvoice } from './state.ts';

function seen(sec: number) {
  const t = trackInvoice({ method: 'chain', lastPaymentSec: sec - 5 });
  t.firstSeenSec = sec;
  return t;
}

describe('paid_latency state', () => {
  it('gives every record one shape and finds a delivery by webhook', () => {
    const a = trackInvoice({ method: 'lightning' });
    expect(Object.keys(a)).toEqual(['method', 'lastPaymentSec', 'firstSeenSec', 'afterPoll', 'delivered']);
    expect(deliveredTo(a, 'w1')).toBeUndefined();
    a.delivered = [{ webhookId: 'w2', sec: 10, id: 'd2' }];
    expect(deliveredTo(a, 'w2')).toEqual({ webhookId: 'w2', sec: 10, id: 'd2' });
    expect(deliveredTo(a, 'w1')).toBeUndefined();
  });

  it('forgets unlisted invoices whose last news is old, keeps listed ones and recent deliveries', () => {
    const st = stateOf(new Map());
    st.invoices.set('old', seen(100));
    st.invoices.set('listed', seen(100));
    const late = seen(100);
    late.delivered = [{ webhookId: 'w', sec: 900, id: 'd' }];
    st.invoices.set('delivered-late', late);
    st.invoices.set('new', seen(900));
    forgetOld(st, 500, new Set(['listed']));
    expect([...st.invoices.keys()].sort()).toEqual(['delivered-late', 'listed', 'new']);
  });

  it('caps the records, dropping the oldest first seen', () => {
    const st = stateOf(new Map());
    const n = MAX_TRACKED_INVOICES + 3;
    // Inserted newest first, so insertion order is not what decides.
    for (let i = n - 1; i >= 0; i--) st.invoices.set(`i${i}`, seen(1000 + i));
    capState(st);
    expect(st.invoices.size).toBe(MAX_TRACKED_INVOICES);
    for (const id of ['i0', 'i1', 'i2']) expect(st.invoices.has(id)).toBe(false);
    expect(st.invoices.has('i3')).toBe(true);
    expect(st.invoices.has(`i${n - 1}`)).toBe(true);
  });
});
