// The reconcile verdict without a sender or a records source: invoices and records in, counts and sentences out.
import { describe, expect, it } from 'vitest';
import type { Invoice } from '../../src/clients/btcpay/schemas.ts';
import { evaluate, isPaid, orphanCandidates, sameAmount, type ReconcileInput } from './evaluate.ts';

const NOW = Date.UTC(2026, 0, 10, 12);
const H = 3_600_000;
const window = { nowMs: NOW, sinceMs: NOW - 24 * H, untilMs: NOW - 10 * 60_000 };
const inv = (id: string, agoMs: number, over: Partial<Invoice> = {}): Invoice => ({
  id,
  amount: '5.00',
  currency: 'USD',
  createdTime: Math.floor((NOW - agoMs) / 1000),
  status: 'Settled',
  additionalStatus: 'None',
  ...over,
});
const input = (over: Partial<ReconcileInput>): ReconcileInput => ({
  window,
  invoices: [],
  records: [],
  skipped: 0,
  lookedUp: new Map(),
  maxLookups: 50,
  thresholds: {},
  redeliver: { configFile: '/etc/hookwatch/hookwatch.yaml', probe: 'recon' },
  ...over,
});

describe('reconcile verdict', () => {
  it('passes when every paid invoice is recorded with its amount and currency', () => {
    const v = evaluate(
      input({
        invoices: [inv('a', H), inv('b', 2 * H, { status: 'Expired', additionalStatus: 'PaidLate' })],
        records: [
          { id: 'a', amount: '5' },
          { id: 'b', currency: 'usd' },
        ],
      }),
    );
    expect(v).toMatchObject({ ok: true, counts: { missing: 0, orphans: 0, mismatched: 0, pending: 0, paid: 2, oldestMissingSeconds: 0 } });
  });

  it('counts an unrecorded paid invoice as missing past the grace and as pending within it', () => {
    const v = evaluate(input({ invoices: [inv('old', 3 * H), inv('new', 60_000), inv('unpaid', H, { status: 'Expired' })] }));
    expect(v.counts).toMatchObject({ missing: 1, pending: 1, paid: 2, oldestMissingSeconds: 3 * 3600 });
    expect(v.ok).toBe(false);
    expect(v.reason).toBe('1 paid invoice(s) missing from the internal records (oldest 180 min; e.g. old)');
    expect(v.cause).toContain('redeliver');
    expect(v.action).toBe(
      'Once webhooks are delivered again, redeliver, dry run first: `hookwatch redeliver --config.file /etc/hookwatch/hookwatch.yaml --probe recon --since 4h` (add --apply to send).',
    );
  });

  it('tolerates missing records up to max_missing, but never orphans or mismatches', () => {
    expect(evaluate(input({ invoices: [inv('a', H)], thresholds: { max_missing: 1 } })).ok).toBe(true);
    const v = evaluate(input({ invoices: [inv('a', H)], records: [{ id: 'a', amount: '6' }], thresholds: { max_missing: 5 } }));
    expect(v).toMatchObject({ ok: false, counts: { mismatched: 1 } });
    expect(v.reason).toContain('a amount 5.00 vs 6');
  });

  it('judges orphan candidates by their lookup: unknown or unpaid is an orphan, processing is not, paid is compared', () => {
    const records = [
      { id: 'gone', timeMs: NOW - 2 * H },
      { id: 'invalid', timeMs: NOW - 2 * H },
      { id: 'confirming', timeMs: NOW - 2 * H },
      { id: 'older', timeMs: NOW - 2 * H, currency: 'EUR' },
      { id: 'fresh', timeMs: NOW - 60_000 },
    ];
    const lookedUp = new Map<string, Invoice | null>([
      ['gone', null],
      ['invalid', inv('invalid', 30 * H, { status: 'Invalid', additionalStatus: 'Marked' })],
      ['confirming', inv('confirming', 30 * H, { status: 'Processing' })],
      ['older', inv('older', 30 * H)],
    ]);
    const v = evaluate(input({ records, lookedUp }));
    expect(v.counts).toMatchObject({ orphans: 2, mismatched: 1 });
    expect(v.details.orphans).toEqual([
      { id: 'gone', reason: 'no such invoice at the sender' },
      { id: 'invalid', reason: 'invoice is Invalid/Marked at the sender, not paid' },
    ]);
  });

  it('lists candidates past maxLookups as orphans that were not looked up', () => {
    const records = [{ id: 'x' }, { id: 'y' }];
    const v = evaluate(input({ records, lookedUp: new Map([['x', null]]), maxLookups: 1 }));
    expect(v.details.orphans).toEqual([
      { id: 'x', reason: 'no such invoice at the sender' },
      { id: 'y', reason: 'not paid in the window; not looked up (maxLookups reached)' },
    ]);
  });

  it('picks as orphan candidates the records neither paid in the listing nor within the grace', () => {
    const c = orphanCandidates([{ id: 'a' }, { id: 'b' }, { id: 'c', timeMs: NOW }], [inv('a', H)], window.untilMs);
    expect(c.map((r) => r.id)).toEqual(['b']);
  });

  it('compares decimal amounts by value and counts Settled or Expired+PaidLate as paid', () => {
    expect(sameAmount('5.00', '05')).toBe(true);
    expect(sameAmount('-0.0', '0')).toBe(true);
    expect(sameAmount('5.01', '5.1')).toBe(false);
    expect(isPaid({ status: 'Expired', additionalStatus: 'PaidLate' })).toBe(true);
    expect(isPaid({ status: 'Expired', additionalStatus: 'None' })).toBe(false);
  });
});
