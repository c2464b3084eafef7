// A server whose every answer is rejected (malformed, or for another question) is reported as
// exactly that, with the reason, not as a silent TIMEOUT.
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsQueryError, query, resolveRecursive, parseServer } from '../src/clients/dns/index.ts';

let server: dgram.Socket;
let address = '';
beforeAll(async () => {
  server = dgram.createSocket('udp4');
  // Echoes the query's id and a few header bytes, then garbage: a malformed answer.
  server.on('message', (msg, rinfo) =>
    server.send(Buffer.concat([msg.subarray(0, 2), Buffer.from([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xff, 0xff])]), rinfo.port, rinfo.address),
  );
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  address = `127.0.0.1:${server.address().port}`;
});
afterAll(() => server?.close());

describe('rejected DNS answers', () => {
  it('query() reports the rejection and its reason, not a timeout', async () => {
    const err = await query({ servers: [parseServer(address)], name: 'hooks.pay.test', type: 'A', rd: true, timeoutMs: 150, attempts: 2 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DnsQueryError);
    expect((err as DnsQueryError).kind).toBe('malformed');
    expect((err as DnsQueryError).message).toMatch(/answer\(s\) from 127\.0\.0\.1:\d+ rejected, none valid within 150 ms \(last: .+\)/);
  });

  it('a resolver answering only garbage shows as MALFORMED with the reason', async () => {
    const r = await resolveRecursive([parseServer(address)], 'hooks.pay.test', { timeoutMs: 150, attempts: 1 });
    expect(r.rcode).toBe('MALFORMED');
    expect(r.error).toContain('rejected');
  });
});
