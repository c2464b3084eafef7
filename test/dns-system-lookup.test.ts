// systemLookup (getaddrinfo) under a hanging resolver: the underlying dns.lookup cannot be cancelled
// and occupies a libuv threadpool thread, so concurrent lookups are capped and callers return at once
// on their signal/timeout. A fake lookup function stands in for getaddrinfo; nothing here is timed
// except short timeouts that must fire, never a speed expectation.
import { describe, it, expect } from 'vitest';
import { systemLookup, lookupVia, LookupLimiter, DnsQueryError, systemLookupLimiter, type SystemLookupFn } from '../src/clients/dns/index.ts';

/** A getaddrinfo that hangs until the test settles it; records which hosts were really started. */
function hangingLookup() {
  const started: string[] = [];
  const pending = new Map<string, { resolve: (v: Array<{ address: string }>) => void; reject: (e: Error) => void }>();
  const lookup: SystemLookupFn = (host) =>
    new Promise((resolve, reject) => {
      started.push(host);
      pending.set(host, { resolve, reject });
    });
  return { lookup, started, pending };
}

describe('systemLookup concurrency cap and prompt give-up', () => {
  it('runs at most `max` getaddrinfo calls; timeouts return while the lookups still hang, and the slots stay taken until they end', async () => {
    const limiter = new LookupLimiter(2, 8);
    const f = hangingLookup();
    const calls = ['a.test', 'b.test', 'c.test', 'd.test'].map((h) => systemLookup(h, { lookup: f.lookup, limiter, timeoutMs: 30 }));
    await new Promise((r) => setImmediate(r));
    expect(f.started).toEqual(['a.test', 'b.test']);
    expect(limiter.running).toBe(2);
    expect(limiter.queued).toBe(2);

    const results = await Promise.all(calls);
    for (const r of results) expect(r).toMatchObject({ addresses: [], code: 'TIMEOUT' });
    expect(results[0]!.error).toMatch(/getaddrinfo for a\.test took longer than 30 ms/);
    expect(results[2]!.error).toMatch(/getaddrinfo for c\.test did not start within 30 ms: 2 system lookups still running/);
    // The timed-out waiters left the queue; the two hung lookups still hold their threads.
    expect(f.started).toEqual(['a.test', 'b.test']);
    expect(limiter.running).toBe(2);
    expect(limiter.queued).toBe(0);

    // The hung lookups end late (one fails): their slots are released, no unhandled rejection.
    f.pending.get('a.test')!.resolve([{ address: '127.0.0.9' }]);
    f.pending.get('b.test')!.reject(Object.assign(new Error('getaddrinfo EAI_AGAIN b.test'), { code: 'EAI_AGAIN' }));
    await new Promise((r) => setImmediate(r));
    expect(limiter.running).toBe(0);

    const ok = systemLookup('e.test', { lookup: async () => [{ address: '127.0.0.5' }, { address: '127.0.0.5' }, { address: '::1' }], limiter });
    expect(await ok).toEqual({ addresses: ['127.0.0.5', '::1'] });
    expect(limiter.running).toBe(0);
  });

  it("the caller's signal returns promptly, whether the lookup is running or queued, and a queued one never starts", async () => {
    const limiter = new LookupLimiter(1, 8);
    const f = hangingLookup();
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    const running = systemLookup('a.test', { lookup: f.lookup, limiter, signal: ac1.signal, timeoutMs: 60_000 });
    const queued = systemLookup('b.test', { lookup: f.lookup, limiter, signal: ac2.signal, timeoutMs: 60_000 });
    await new Promise((r) => setImmediate(r));
    expect(f.started).toEqual(['a.test']);
    expect(limiter.queued).toBe(1);

    ac2.abort();
    await expect(queued).rejects.toMatchObject({ kind: 'aborted' });
    expect(limiter.queued).toBe(0);
    ac1.abort();
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DnsQueryError);
    expect(limiter.running).toBe(1); // a.test's getaddrinfo is still running

    f.pending.get('a.test')!.resolve([{ address: '127.0.0.2' }]);
    await new Promise((r) => setImmediate(r));
    expect(limiter.running).toBe(0);
    expect(f.started).toEqual(['a.test']); // b.test was never started after it was abandoned

    // An already-aborted signal does not even queue.
    const pre = new AbortController();
    pre.abort();
    await expect(systemLookup('c.test', { lookup: f.lookup, limiter, signal: pre.signal })).rejects.toBeInstanceOf(DnsQueryError);
    expect(f.started).toEqual(['a.test']);
  });

  it('refuses at once when the queue is full, with a clear error; lookupVia maps it to a code', async () => {
    const limiter = new LookupLimiter(1, 1);
    const f = hangingLookup();
    const a = systemLookup('a.test', { lookup: f.lookup, limiter, timeoutMs: 60_000 });
    const b = systemLookup('b.test', { lookup: f.lookup, limiter, timeoutMs: 60_000 });
    const c = await systemLookup('c.test', { lookup: f.lookup, limiter, timeoutMs: 60_000 });
    expect(c).toMatchObject({ addresses: [], code: 'EBUSY' });
    expect(c.error).toMatch(/too many system lookups pending \(1 running, 1 queued\): getaddrinfo seems to hang/);

    // The queued call starts when the slot frees, in order.
    f.pending.get('a.test')!.resolve([{ address: '127.0.0.1' }]);
    expect(await a).toEqual({ addresses: ['127.0.0.1'] });
    await new Promise((r) => setImmediate(r));
    expect(f.started).toEqual(['a.test', 'b.test']);
    f.pending.get('b.test')!.reject(Object.assign(new Error('getaddrinfo ENOTFOUND b.test'), { code: 'ENOTFOUND' }));
    expect(await b).toMatchObject({ addresses: [], code: 'ENOTFOUND' });
    expect(limiter.running).toBe(0);
    expect(limiter.queued).toBe(0);
  });

  it('the default path (real getaddrinfo, shared limiter) still resolves localhost and frees its slot', async () => {
    const r = await lookupVia('system', 'localhost', { timeoutMs: 5000 });
    expect(r.addresses.length).toBeGreaterThan(0);
    expect(systemLookupLimiter.max).toBe(2);
    expect(systemLookupLimiter.running).toBe(0);
  });
});
