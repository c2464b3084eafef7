// The phase-timing HTTP client under the synthetic probe: failure classes at each phase, the
// outer deadline, and the address actually used.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { httpRequest } from '../src/clients/http/index.ts';

describe('httpRequest', () => {
  let server: Server;
  let base = '';
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/hang') return; // never answer
      if (req.url === '/slow-body') {
        res.writeHead(200);
        res.write('partial');
        return; // body never ends
      }
      const status = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('status') ?? 200);
      res.writeHead(status, { 'content-type': 'text/plain' }).end('x'.repeat(10_000));
    });
    server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('times each phase, keeps a bounded body and names the address', async () => {
    const r = await httpRequest({ url: base + '/ok', method: 'GET', maxBodyBytes: 100 });
    expect(r.ok).toBe(true);
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(100);
    expect(r.address).toBe('127.0.0.1');
    expect(Object.keys(r.phases).sort()).toEqual(['connect', 'resolve', 'response']);
  });

  it('non-2xx is http_status unless okStatus says otherwise', async () => {
    const r = await httpRequest({ url: base + '/?status=503', method: 'GET' });
    expect(r.failure?.class).toBe('http_status');
    expect(r.failure?.message).toMatch(/HTTP 503 \(from 127\.0\.0\.1:\d+\)/);
    const r2 = await httpRequest({ url: base + '/?status=404', method: 'GET', okStatus: (s) => s === 404 });
    expect(r2.ok).toBe(true);
  });

  it('a body that never ends is a response_timeout too', async () => {
    const r = await httpRequest({ url: base + '/slow-body', method: 'GET', responseTimeoutMs: 200 });
    expect(r.failure?.class).toBe('response_timeout');
    expect(r.phases.response).toBeGreaterThanOrEqual(0.15);
  });

  it('the caller aborting (probe deadline) is blamed on the phase under way', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const r = await httpRequest({ url: base + '/hang', method: 'GET', responseTimeoutMs: 10_000, signal: ac.signal });
    expect(r.failure?.class).toBe('response_timeout');
    expect(r.phases.response).toBeLessThan(5);
  });

  it('an unreadable caFile is a tls_error that names the file', async () => {
    const r = await httpRequest({ url: 'https://127.0.0.1:1/', caFile: '/nonexistent/ca.pem' });
    expect(r.failure).toEqual({ class: 'tls_error', message: 'cannot read CA file /nonexistent/ca.pem: ENOENT' });
  });

  it('an IPv6 literal with nothing listening -> connect_refused naming [::1]', async () => {
    const r = await httpRequest({ url: 'http://[::1]:1/x', method: 'GET', connectTimeoutMs: 1000 });
    expect(['connect_refused', 'connect_timeout']).toContain(r.failure?.class);
    expect(r.failure?.message).toContain('[::1]:1');
    expect(r.address).toBe('::1');
  });
});
