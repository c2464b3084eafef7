// resolver: system, tested faithfully: /etc/resolv.conf cannot name a port, so the probe runs inside a
// private network + mount namespace where a caching resolver listens on 127.0.0.1:53 and a
// bind-mounted resolv.conf points at it. getaddrinfo (dns.lookup) then sees exactly what the sender
// would. Needs unshare(1) with permission to create namespaces (root or user namespaces).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { findBinary, REQUIRE_DAEMONS } from '../../test/helpers/daemons.ts';

const pexec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');

function cannotUnshare(): string | undefined {
  if (!findBinary('unshare') || !findBinary('ip')) {
    if (REQUIRE_DAEMONS) throw new Error('unshare and ip are required (util-linux, iproute2)');
    return 'SKIPPED: needs unshare and ip (util-linux, iproute2)';
  }
  try {
    execFileSync('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore', timeout: 5000 });
    return undefined;
  } catch {
    const reason = 'SKIPPED: cannot create network/mount namespaces here (needs root or user namespaces)';
    if (REQUIRE_DAEMONS) throw new Error(`${reason}; HOOKWATCH_REQUIRE_DAEMONS=1 forbids skipping`);
    console.warn(`\n*** ${reason} ***\n`);
    return reason;
  }
}
const skip = cannotUnshare();

const CHILD = `
import { FakeAuthoritative, FakeRecursive } from '${ROOT}/src/sim/dns-server.ts';
import { makeTestContext } from '${ROOT}/test/helpers/context.ts';
import { dnsDrift } from '${ROOT}/probes/dns-drift/index.ts';
const auth = await FakeAuthoritative.start({ zone: 'pay.test', port: 5300, records: [{ name: 'hooks.pay.test', type: 'A', ttl: 3600, values: ['127.0.0.2'] }] });
const res = await FakeRecursive.start({ upstream: [auth.address], port: 53, minTtl: 172800 });
const conf = { name: 'dns', type: 'dns_drift', intervalMs: 60000, timeoutMs: 5000, thresholds: { grace_seconds: 60 },
  ...dnsDrift.schema.parse({ hosts: ['hooks.pay.test'], resolver: 'system', authoritative: [auth.address], recordTypes: ['A'] }) };
const ctx = makeTestContext({ probe: 'dns' });
const view = (r) => ({ ok: r.ok, ...r.details.hosts['hooks.pay.test'] });
const out = {};
out.before = view(await dnsDrift.run(conf, ctx));
auth.set('hooks.pay.test', 'A', ['127.0.0.3']);
out.migrated = view(await dnsDrift.run(conf, ctx));
ctx.setNow(Date.now() + 3700_000);
out.later = view(await dnsDrift.run(conf, ctx));
res.flush();
out.flushed = view(await dnsDrift.run(conf, ctx));
out.getaddrinfo = (await import('node:dns')).promises.lookup('hooks.pay.test').then((a) => a.address);
out.getaddrinfo = await out.getaddrinfo;
console.log(JSON.stringify(out));
await res.stop(); await auth.stop();
`;

describe.skipIf(skip)('dns_drift with resolver: system (getaddrinfo in a private namespace)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-dnssys-'));
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    writeFileSync(join(dir, 'child.mts'), CHILD);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sees the stale address the sending process would use, its inflated TTL, and the flush', async () => {
    const script = `ip link set lo up && mount --bind ${dir}/resolv.conf /etc/resolv.conf && exec ${process.execPath} --import tsx ${dir}/child.mts`;
    const { stdout } = await pexec('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', script], { cwd: ROOT, timeout: 60_000 });
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as Record<
      string,
      { ok: boolean; verdicts: string[]; resolver: { addresses: string[]; ttl?: number } } | string
    >;
    const v = (k: string) => out[k] as { ok: boolean; verdicts: string[]; resolver: { addresses: string[]; ttl?: number } };
    expect(v('before').verdicts).toEqual(['ttl_inflated']);
    expect(v('before').resolver.ttl).toBe(172800); // read from the resolv.conf nameserver
    expect(v('migrated').resolver.addresses).toEqual(['127.0.0.2']); // getaddrinfo still returns the old one
    expect(v('migrated').verdicts).toEqual(['ttl_inflated', 'drift']);
    expect(v('later').verdicts).toEqual(['ttl_inflated', 'stale']);
    expect(v('flushed').resolver.addresses).toEqual(['127.0.0.3']);
    expect(v('flushed').verdicts).toEqual(['ttl_inflated']);
    expect(out.getaddrinfo).toBe('127.0.0.3');
  });
});
