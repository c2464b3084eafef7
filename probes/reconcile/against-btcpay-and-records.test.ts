// Reconcile against the fake BTCPay and the internal records from a real PostgreSQL and from an
// http-json endpoint: missing, orphans, mismatches and the grace window, each shown; the DB
// password and the API key never surface.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reconcile, sameAmount, isPaid } from '../reconcile/index.ts';
import { Secret } from '../../src/secret.ts';
import type { SourceConfig } from '../../src/probe/types.ts';
import { makeTestContext, type TestContext } from '../../test/helpers/context.ts';
import { startFakeBtcpay, type FakeBtcpay } from '../../src/sim/btcpay/index.ts';
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres.ts';
import { missingBinaries } from '../../test/helpers/daemons.ts';
import { expectGolden } from '../../test/helpers/golden.ts';

const T = Date.UTC(2026, 10, 23, 12, 0, 0);
const MIN = 60_000;
const H = 60 * MIN;

interface Row {
  id: string;
  amount: string;
  currency: string;
  timeMs: number;
}

/** The scenario: invoices at the sender and what the internal system recorded. */
function seed(fake: FakeBtcpay) {
  const at = (ms: number) => fake.setNow(ms);
  const make = (offsetMs: number, amount = '25.00', currency = 'USD') => {
    at(T - offsetMs);
    return fake.createInvoice({ amount, currency, metadata: { orderId: `o-${offsetMs}` } }).id;
  };
  const settled = (offsetMs: number, amount?: string, currency?: string) => {
    const id = make(offsetMs, amount, currency);
    fake.settleInvoice(id);
    return id;
  };
  const ids = {
    ok: settled(2 * H),
    missing: settled(3 * H),
    amount: settled(1 * H, '10.00'),
    currency: settled(50 * MIN, '7.5', 'USD'),
    pending: settled(5 * MIN),
    paidLate: (() => {
      const id = make(4 * H);
      fake.expirePaidLate(id);
      return id;
    })(),
    unpaidRecorded: make(1 * H),
    beforeWindow: settled(30 * H),
    expiredUnpaid: (() => {
      const id = make(2 * H);
      fake.expireInvoice(id);
      return id;
    })(),
  };
  fake.setNow(T);
  const rows: Row[] = [
    { id: ids.ok, amount: '25', currency: 'usd', timeMs: T - 2 * H + MIN },
    { id: ids.amount, amount: '1.00', currency: 'USD', timeMs: T - H + MIN },
    { id: ids.currency, amount: '7.50', currency: 'EUR', timeMs: T - 50 * MIN + MIN },
    { id: ids.unpaidRecorded, amount: '25.00', currency: 'USD', timeMs: T - H + MIN },
    { id: 'spoofed-invoice-id', amount: '999.00', currency: 'USD', timeMs: T - 90 * MIN },
    { id: ids.beforeWindow, amount: '25.00', currency: 'USD', timeMs: T - 20 * H },
  ];
  return { ids, rows };
}

function probe(over: Record<string, unknown> = {}) {
  const own = reconcile.schema.parse({ source: 'btcpay', records: 'internal', ...over });
  return { name: 'recon', type: 'reconcile', intervalMs: 300_000, timeoutMs: 10_000, thresholds: { max_missing: 0 }, ...own };
}

function expectScenario(r: Awaited<ReturnType<typeof reconcile.run>>, ids: ReturnType<typeof seed>['ids']) {
  expect(r.ok).toBe(false);
  const d = r.details as Record<string, any>;
  expect(d.missing.map((m: any) => m.invoiceId).sort()).toEqual([ids.missing, ids.paidLate].sort());
  expect(d.missing[0]).toMatchObject({ invoiceId: ids.paidLate, ageSeconds: 4 * 3600, status: 'Expired', additionalStatus: 'PaidLate' });
  expect(d.orphans).toEqual(
    expect.arrayContaining([
      { id: 'spoofed-invoice-id', reason: 'no such invoice at the sender' },
      { id: ids.unpaidRecorded, reason: 'invoice is New at the sender, not paid' },
    ]),
  );
  expect(d.orphans).toHaveLength(2);
  expect(d.mismatches).toEqual(
    expect.arrayContaining([
      { invoiceId: ids.amount, field: 'amount', sender: '10.00', internal: expect.stringMatching(/^1(\.0+)?$/) },
      { invoiceId: ids.currency, field: 'currency', sender: 'USD', internal: 'EUR' },
    ]),
  );
  expect(d.mismatches).toHaveLength(2);
  expect(d.pending).toEqual([ids.pending]);
  expect(r.reason).toMatch(/2 paid invoice\(s\) missing/);
  // What ends it now, runnable as printed: the redelivery, from this probe's own BTCPay source.
  expect(r.action).toMatch(/^Once webhooks are delivered again, redeliver, dry run first: `hookwatch redeliver --config\.file \S+ --probe recon --since \d+h`/);
  expect(r.reason).toMatch(/2 internal record\(s\) with no paid invoice/);
  expect(r.reason).toMatch(/2 amount\/currency mismatch/);
}

async function expectMetrics(ctx: TestContext, missing: number, pending: number) {
  expect(await ctx.metricValue('reconcile_missing_records')).toBe(missing);
  expect(await ctx.metricValue('reconcile_orphan_records')).toBe(2);
  expect(await ctx.metricValue('reconcile_mismatched_records')).toBe(2);
  expect(await ctx.metricValue('reconcile_pending_records')).toBe(pending);
}

describe('reconcile amount and paid-status rules', () => {
  it('compares decimal amounts by value', () => {
    expect(sameAmount('5.00', '5')).toBe(true);
    expect(sameAmount('05.50', '5.5')).toBe(true);
    expect(sameAmount('-0.00', '0')).toBe(true);
    expect(sameAmount('5.01', '5.1')).toBe(false);
    expect(sameAmount('1e3', '1000')).toBe(false);
  });
  it('counts Settled and Expired+PaidLate as paid, nothing else', () => {
    expect(isPaid({ status: 'Settled', additionalStatus: 'Marked' })).toBe(true);
    expect(isPaid({ status: 'Expired', additionalStatus: 'PaidLate' })).toBe(true);
    expect(isPaid({ status: 'Expired', additionalStatus: 'PaidPartial' })).toBe(false);
    expect(isPaid({ status: 'Processing', additionalStatus: 'None' })).toBe(false);
  });
});

describe.skipIf(missingBinaries('initdb', 'postgres'))('reconcile against PostgreSQL', () => {
  let fake: FakeBtcpay;
  let pgd: TestPostgres;
  let scenario: ReturnType<typeof seed>;
  let apiKey: string;
  beforeAll(async () => {
    [fake, pgd] = await Promise.all([startFakeBtcpay(), startPostgres()]);
    apiKey = fake.addApiKey([`btcpay.store.canviewinvoices:${fake.storeId}`]);
    scenario = seed(fake);
    await pgd.sql(
      `CREATE TABLE payments (invoice_id text PRIMARY KEY, amount numeric(18,8) NOT NULL, currency text NOT NULL, recorded_at timestamptz NOT NULL)`,
    );
    await pgd.sql(`ALTER TABLE payments OWNER TO ${pgd.user}`);
    for (const r of scenario.rows) await pgd.sql('INSERT INTO payments VALUES ($1, $2, $3, $4)', [r.id, r.amount, r.currency, new Date(r.timeMs)]);
  });
  afterAll(async () => {
    await Promise.all([fake?.close(), pgd?.stop()]);
  });

  const sources = (over: Partial<Extract<SourceConfig, { type: 'postgres' }>> = {}): Record<string, SourceConfig> => ({
    btcpay: { name: 'btcpay', type: 'btcpay', url: fake.url, apiKey: Secret.literal(apiKey, 'env:BTCPAY_KEY'), storeId: fake.storeId },
    internal: {
      name: 'internal',
      type: 'postgres',
      host: pgd.host,
      port: pgd.port,
      database: pgd.database,
      user: pgd.user,
      password: Secret.literal(pgd.password, 'env:DB_PASSWORD'),
      ssl: false,
      query: 'SELECT invoice_id AS id, amount, currency, recorded_at AS time FROM payments WHERE recorded_at BETWEEN $1 AND $2',
      ...over,
    },
  });

  it('shows missing, orphans, mismatches and the invoice still within the grace', async () => {
    const ctx = makeTestContext({ probe: 'recon', now: T, sources: sources() });
    const r = await reconcile.run(probe(), ctx);
    expectScenario(r, scenario.ids);
    await expectMetrics(ctx, 2, 1);
    expect(await ctx.metricValue('reconcile_oldest_missing_age_seconds')).toBe(4 * 3600);
    // The record of an invoice created before the window was looked up and found paid.
    expect(JSON.stringify(r.details)).not.toContain(`"${scenario.ids.beforeWindow}"`);
    const everything = JSON.stringify(r) + ctx.logLines.join('') + (await ctx.registry.exposition());
    expect(everything).not.toContain(pgd.password);
    expect(everything).not.toContain(apiKey);
    expectGolden(new URL('./exposition.prom', import.meta.url), await ctx.registry.exposition());
  });

  it('once the grace has passed, the unrecorded recent invoice counts as missing', async () => {
    const ctx = makeTestContext({ probe: 'recon', now: T + 6 * MIN, sources: sources() });
    const r = await reconcile.run(probe(), ctx);
    const d = r.details as Record<string, any>;
    expect(d.missing.map((m: any) => m.invoiceId)).toContain(scenario.ids.pending);
    await expectMetrics(ctx, 3, 0);
  });

  it('max_missing tolerates missing records but not orphans or mismatches', async () => {
    const ctx = makeTestContext({ probe: 'recon', now: T, sources: sources() });
    const p = { ...probe(), thresholds: { max_missing: 5 } };
    const r = await reconcile.run(p, ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).not.toMatch(/missing/);
    expect(r.reason).toMatch(/orphan|no paid invoice/);
  });

  it('runs the query read-only: a writing query fails and writes nothing', async () => {
    const ctx = makeTestContext({
      probe: 'recon',
      now: T,
      sources: sources({
        query:
          "WITH w AS (INSERT INTO payments VALUES ('evil', 1, 'USD', now()) RETURNING *) SELECT invoice_id AS id FROM w WHERE $1::timestamptz < $2::timestamptz",
      }),
    });
    const r = await reconcile.run(probe(), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/read-only transaction/);
    expect((await pgd.sql("SELECT count(*)::int AS n FROM payments WHERE invoice_id = 'evil'")).rows[0].n).toBe(0);
  });

  it('a wrong database password fails without showing it', async () => {
    const wrong = 'wrong-' + pgd.password;
    const ctx = makeTestContext({ probe: 'recon', now: T, sources: { ...sources({ password: Secret.literal(wrong, 'env:DB_PASSWORD') }) } });
    const r = await reconcile.run(probe(), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/password authentication failed/);
    const everything = JSON.stringify(r) + ctx.logLines.join('') + (await ctx.registry.exposition());
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(pgd.password);
  });

  it('a key without canviewinvoices fails with a permission sentence', async () => {
    const weak = fake.addApiKey([`btcpay.store.webhooks.canmodifywebhooks:${fake.storeId}`]);
    const src = sources();
    src.btcpay = { ...(src.btcpay as Extract<SourceConfig, { type: 'btcpay' }>), apiKey: Secret.literal(weak, 'env:BTCPAY_KEY') };
    const ctx = makeTestContext({ probe: 'recon', now: T, sources: src });
    const r = await reconcile.run(probe(), ctx);
    expect(r.ok).toBe(false);
    expect(r.cause).toMatch(/canviewinvoices/);
    expect(JSON.stringify(r)).not.toContain(weak);
  });
});

describe('reconcile against an http-json records endpoint', () => {
  let fake: FakeBtcpay;
  let server: Server;
  let url = '';
  let scenario: ReturnType<typeof seed>;
  let apiKey: string;
  const TOKEN = 'internal-api-token-' + Math.random().toString(36).slice(2);
  const asked: Array<{ since: number; until: number }> = [];
  beforeAll(async () => {
    fake = await startFakeBtcpay();
    apiKey = fake.addApiKey([`btcpay.store.canviewinvoices:${fake.storeId}`]);
    scenario = seed(fake);
    // An internal API with its own shape: nested items, nested ids, amounts as numbers, ISO times.
    server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401).end();
        return;
      }
      const since = Number(u.searchParams.get('since'));
      const until = Number(u.searchParams.get('until'));
      asked.push({ since, until });
      const items = scenario.rows
        .filter((r) => r.timeMs >= since * 1000 && r.timeMs <= until * 1000)
        .map((r) => ({ order: { btcpayInvoice: r.id }, total: Number(r.amount), cur: r.currency, bookedAt: new Date(r.timeMs).toISOString() }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { items }, page: 1 }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/payments?since={since}&until={until}`;
  });
  afterAll(async () => {
    await fake?.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const sources = (token = TOKEN): Record<string, SourceConfig> => ({
    btcpay: { name: 'btcpay', type: 'btcpay', url: fake.url, apiKey: Secret.literal(apiKey, 'env:BTCPAY_KEY'), storeId: fake.storeId },
    internal: {
      name: 'internal',
      type: 'http-json',
      url,
      headers: { authorization: Secret.literal(`Bearer ${token}`, 'env:INTERNAL_TOKEN') },
      itemsPath: 'data.items',
      fields: { id: 'order.btcpayInvoice', amount: 'total', currency: 'cur', time: 'bookedAt' },
    },
  });

  it('shows missing, orphans, mismatches and the grace, with templated since/until', async () => {
    const ctx = makeTestContext({ probe: 'recon', now: T, sources: sources() });
    const r = await reconcile.run(probe(), ctx);
    expectScenario(r, scenario.ids);
    await expectMetrics(ctx, 2, 1);
    expect(asked.at(-1)).toEqual({ since: (T - 24 * H) / 1000, until: T / 1000 });
    expect(JSON.stringify(r) + ctx.logLines.join('')).not.toContain(TOKEN);
  });

  it('a shorter grace turns the pending invoice into a missing one', async () => {
    const ctx = makeTestContext({ probe: 'recon', now: T, sources: sources() });
    const r = await reconcile.run(probe({ grace: '1m' }), ctx);
    expect((r.details as any).missing.map((m: any) => m.invoiceId)).toContain(scenario.ids.pending);
    await expectMetrics(ctx, 3, 0);
  });

  it('a refused token fails with the status, never the token', async () => {
    const ctx = makeTestContext({ probe: 'recon', now: T, sources: sources('bad-token-value-xyz') });
    const r = await reconcile.run(probe(), ctx);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/HTTP 401/);
    expect(JSON.stringify(r) + ctx.logLines.join('')).not.toContain('bad-token-value-xyz');
    expect(await ctx.metricValue('reconcile_missing_records')).toBeUndefined();
  });

  it('validates grace against window (source types are checked by the loader)', () => {
    const cfg = { file: 'x', global: { intervalMs: 1, timeoutMs: 1, resolver: 'system' }, sources: sources(), secrets: [], probes: [] };
    expect(reconcile.validate!(probe(), cfg)).toEqual([]);
    expect(reconcile.sources).toEqual({ source: ['btcpay'], records: ['http-json', 'postgres'] });
    expect(reconcile.validate!(probe({ window: '5m', grace: '10m' }), cfg).map((e) => e.key)).toEqual(['grace']);
  });
});
