import { describe, expect, it } from 'vitest';
import { MAX_TRACKED_INVOICES } from '../../src/btcpay/limits.ts';
import { addDelivery, capState, deliveredTo, doneFor, forgetOld, markDone, stateOf, trackInvoice } from './state.ts';

function seen(sec: number) {
  const t = trackInvoice({ method: 'chain', lastPaymentSec: sec - 5 });
  t.firstSeenSec = sec;
  return t;
}

describe('paid_latency state', () => {
  it('gives every record one shape and finds a delivery by webhook', () => {
    const a = trackInvoice({ method: 'lightning' });
    expect(Object.keys(a)).toEqual(['method', 'lastPaymentSec', 'firstSeenSec', 'afterPoll', 'hook', 'hookSec', 'hookDelivery', 'more']);
    expect(deliveredTo(a, 'w1')).toBeUndefined();
    expect([a.hook, a.more]).toEqual([undefined, undefined]);
    addDelivery(a, { webhookId: 'w2', sec: 10, id: 'd2' });
    expect(deliveredTo(a, 'w2')).toEqual({ webhookId: 'w2', sec: 10, id: 'd2' });
    expect(deliveredTo(a, 'w1')).toBeUndefined();
    expect(a.more).toBeUndefined(); // the first delivery lives in the record
    addDelivery(a, { webhookId: 'w1', sec: 12, id: 'd1' });
    addDelivery(a, { webhookId: 'w3', sec: 11, id: 'd3' });
    expect(deliveredTo(a, 'w1')).toEqual({ webhookId: 'w1', sec: 12, id: 'd1' });
    expect(deliveredTo(a, 'w2')).toEqual({ webhookId: 'w2', sec: 10, id: 'd2' });
    expect(a.more).toEqual([
      { webhookId: 'w1', sec: 12, id: 'd1' },
      { webhookId: 'w3', sec: 11, id: 'd3' },
    ]);
    expect(Object.keys(a)).toHaveLength(8); // still one shape
  });

  it('forgets unlisted invoices whose last news is old, keeps listed ones and recent deliveries', () => {
    const st = stateOf(new Map());
    st.invoices.set('old', seen(100));
    st.invoices.set('listed', seen(100));
    const late = seen(100);
    addDelivery(late, { webhookId: 'w', sec: 900, id: 'd' });
    st.invoices.set('delivered-late', late);
    const second = seen(100);
    addDelivery(second, { webhookId: 'w', sec: 200, id: 'd' });
    addDelivery(second, { webhookId: 'w2', sec: 800, id: 'd2' });
    st.invoices.set('second-webhook-late', second);
    st.invoices.set('new', seen(900));
    forgetOld(st, 500, new Set(['listed']));
    expect([...st.invoices.keys()].sort()).toEqual(['delivered-late', 'listed', 'new', 'second-webhook-late']);
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

  it('keeps a done invoice as its id and last delivery time, forgets it like a record, and caps the ids oldest first', () => {
    const st = stateOf(new Map());
    const t = seen(100);
    addDelivery(t, { webhookId: 'w', sec: 300, id: 'd' });
    st.invoices.set('a', t);
    markDone(st, 'a', t);
    expect(st.invoices.has('a')).toBe(false);
    expect(st.done.get('a')).toBe(300);
    st.done.set('listed', 100);
    st.done.set('recent', 900);
    forgetOld(st, 500, new Set(['listed']));
    expect([...st.done.keys()].sort()).toEqual(['listed', 'recent']);
    for (let i = 0; i < MAX_TRACKED_INVOICES; i++) st.done.set(`d${i}`, 1000 + i);
    capState(st);
    expect(st.done.size).toBe(MAX_TRACKED_INVOICES);
    expect(st.done.has('listed')).toBe(false);
    expect(st.done.has('recent')).toBe(false);
    expect(st.done.has('d0')).toBe(true);
  });

  it('shares done ids by signature, and carries its own into a new signature when settings change', () => {
    const [one, two] = [stateOf(new Map()), stateOf(new Map())];
    one.done.set('marked-before-sharing', 50);
    const shared = doneFor(one, 'sig-a');
    expect(doneFor(two, 'sig-a')).toBe(shared);
    expect(two.done.has('marked-before-sharing')).toBe(true);
    shared.set('x', 100);
    const moved = doneFor(two, 'sig-b');
    expect(moved).not.toBe(shared);
    expect([...moved.keys()].sort()).toEqual(['marked-before-sharing', 'x']);
    expect(doneFor(stateOf(new Map()), 'sig-b')).toBe(moved);
  });
});
