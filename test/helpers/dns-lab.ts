/**
 * A loopback DNS lab with real daemons that reproduces the stale-DNS incident.
 *
 *   const lab = await startDnsLab();          // needs nsd, nsd-control, nsd-checkzone, unbound, unbound-control
 *   lab.authoritative   // 'IP:PORT' of nsd (authoritative for pay.test. and the delegated fast.pay.test.)
 *   lab.badResolver     // 'IP:PORT' of unbound with cache-min-ttl = cache-max-ttl = 172800 (the misconfiguration)
 *   lab.goodResolver    // 'IP:PORT' of unbound with defaults
 *   await lab.migrate('hooks.pay.test', '127.0.0.3');   // serial+1, nsd-checkzone, nsd-control reload, waits for the serial
 *   await lab.flush('bad');                              // unbound-control flush_zone pay.test.
 *   await lab.stop();                                    // in afterAll
 *
 * Zones (all on 127.0.0.1, free ports, temp dir, daemons in the foreground, killed by pid):
 *   pay.test.       hooks 3600 A 127.0.0.2, alias 3600 CNAME hooks.pay.test., ns1 A 127.0.0.1;
 *                   delegates fast.pay.test. to ns1.pay.test.
 *   fast.pay.test.  hooks <fastTtl, default 2> A 127.0.0.2, so TTL expiry is visible within seconds
 *                   (`lab.fastHost` = 'hooks.fast.pay.test').
 * With `{ disagreeing: true }` a second nsd (`lab.secondAuthoritative`) serves a copy of both zones in
 * which hooks points at 127.0.0.9 instead: a migration done on one server only. The unbounds ask only
 * the first nsd. Use `{ records: { 'hooks.pay.test': '127.0.0.5' } }` to start with other addresses.
 * Loopback only, no root needed; two labs may run at once (distinct ports and control sockets).
 * Pitfalls encoded here: local-zone "test." nodefault, do-not-query-localhost: no, RD=0 to unbound is
 * REFUSED (query resolvers with RD=1), cache-max-ttl must be raised with cache-min-ttl.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
import { bin } from './daemons.ts';
import { query, parseServer } from '../../src/clients/dns/index.ts';

const pexecFile = promisify(execFile);

export interface DnsLabOptions {
  /** TTL of hooks.fast.pay.test (seconds). */
  fastTtl?: number;
  /** TTL of hooks.pay.test (seconds). */
  hooksTtl?: number;
  /** Start a second nsd whose copy of the zones disagrees (hooks -> 127.0.0.9). */
  disagreeing?: boolean;
  /** cache-min-ttl/cache-max-ttl of the bad unbound. */
  badMinTtl?: number;
  /** Initial addresses, by name without trailing dot. */
  records?: Record<string, string>;
}

export interface DnsLab {
  dir: string;
  authoritative: string;
  secondAuthoritative?: string;
  /** All authoritative servers of the lab (1 or 2). */
  authoritatives: string[];
  badResolver: string;
  goodResolver: string;
  hooksHost: string;
  fastHost: string;
  aliasHost: string;
  /** Current address of a name on the primary nsd. */
  address(name: string): string | undefined;
  migrate(name: string, newIp: string): Promise<void>;
  flush(which: 'bad' | 'good' | 'both', zone?: string): Promise<void>;
  stop(): Promise<void>;
}

interface Rec {
  ttl: number;
  type: 'A' | 'CNAME';
  value: string;
}

interface ZoneData {
  origin: string;
  serial: number;
  records: Map<string, Rec>; // owner (relative label or '@') -> record
  delegations: string[]; // child labels delegated to ns1.pay.test.
}

/** A port free for both UDP and TCP on 127.0.0.1 (probed, then released). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((res, rej) => {
      const s = net.createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => res(p));
      });
    });
    const udpFree = await new Promise<boolean>((res) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => res(false));
      u.bind(port, '127.0.0.1', () => u.close(() => res(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port found');
}

function renderZone(z: ZoneData): string {
  const lines = [`$ORIGIN ${z.origin}`, '$TTL 3600', `@ IN SOA ns1.pay.test. hostmaster.pay.test. ${z.serial} 3600 600 86400 30`, '@ IN NS ns1.pay.test.'];
  for (const [owner, r] of z.records) lines.push(`${owner} ${r.ttl} IN ${r.type} ${r.value}`);
  for (const d of z.delegations) lines.push(`${d} 3600 IN NS ns1.pay.test.`);
  return lines.join('\n') + '\n';
}

class Daemon {
  readonly stderr: string[] = [];
  exited = false;
  logFile?: string;
  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.stderr?.on('data', (b: Buffer) => this.stderr.push(b.toString()));
    proc.stdout?.on('data', (b: Buffer) => this.stderr.push(b.toString()));
    proc.on('exit', () => (this.exited = true));
  }
  async stop(): Promise<void> {
    if (this.exited || this.proc.pid === undefined) return;
    const gone = new Promise<void>((res) => this.proc.once('exit', () => res()));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

async function waitServing(d: Daemon, server: string, name: string, rd: boolean): Promise<void> {
  const s = parseServer(server);
  for (let i = 0; i < 100; i++) {
    if (d.exited) throw new Error(`${d.name} exited during startup: ${d.stderr.join('').slice(-2000)} ${d.logFile ? readLogFile(d.logFile) : ''}`);
    try {
      const r = await query({ servers: [s], name, type: 'SOA', rd, timeoutMs: 200, attempts: 1, retryRcodes: [] });
      if (r.response.rcode === 'NOERROR') return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${d.name} did not answer on ${server}: ${d.stderr.join('').slice(-2000)} ${d.logFile ? readLogFile(d.logFile) : ''}`);
}

async function servedSerial(server: string, zone: string): Promise<number | undefined> {
  try {
    const r = await query({ servers: [parseServer(server)], name: zone, type: 'SOA', rd: false, timeoutMs: 300, attempts: 1, retryRcodes: [] });
    const soa = r.response.answers.find((a) => a.type === 'SOA') as { data?: { serial?: number } } | undefined;
    return soa?.data?.serial;
  } catch {
    return undefined;
  }
}

export async function startDnsLab(opts: DnsLabOptions = {}): Promise<DnsLab> {
  const dir = mkdtempSync(join(tmpdir(), 'hw-dnslab-'));
  const daemons: Daemon[] = [];
  const cleanup = async () => {
    for (const d of daemons.reverse()) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const fastTtl = opts.fastTtl ?? 2;
    const mkZones = (hooksIp: string, fastIp: string): ZoneData[] => [
      {
        origin: 'pay.test.',
        serial: 1,
        records: new Map<string, Rec>([
          ['ns1', { ttl: 3600, type: 'A', value: '127.0.0.1' }],
          ['hooks', { ttl: opts.hooksTtl ?? 3600, type: 'A', value: opts.records?.['hooks.pay.test'] ?? hooksIp }],
          ['alias', { ttl: 3600, type: 'CNAME', value: 'hooks.pay.test.' }],
        ]),
        delegations: ['fast'],
      },
      {
        origin: 'fast.pay.test.',
        serial: 1,
        records: new Map<string, Rec>([['hooks', { ttl: fastTtl, type: 'A', value: opts.records?.['hooks.fast.pay.test'] ?? fastIp }]]),
        delegations: [],
      },
    ];

    const startNsd = async (tag: string, zones: ZoneData[]) => {
      const port = await freePort();
      const sub = join(dir, tag);
      rmSync(sub, { recursive: true, force: true });
      mkdirSync(sub, { recursive: true });
      for (const z of zones) writeFileSync(join(sub, `${z.origin}zone`), renderZone(z));
      const conf = join(sub, 'nsd.conf');
      writeFileSync(
        conf,
        [
          'server:',
          `  ip-address: 127.0.0.1@${port}`,
          `  port: ${port}`,
          '  username: ""',
          `  zonesdir: "${sub}"`,
          `  pidfile: "${sub}/nsd.pid"`,
          '  database: ""',
          `  xfrdfile: "${sub}/xfrd.state"`,
          `  xfrdir: "${sub}"`,
          `  zonelistfile: "${sub}/zone.list"`,
          '  server-count: 1',
          '  verbosity: 1',
          '  hide-version: yes',
          `  logfile: "${sub}/nsd.log"`,
          'remote-control:',
          '  control-enable: yes',
          `  control-interface: ${sub}/nsd.ctl`,
          ...zones.flatMap((z) => ['zone:', `  name: "${z.origin}"`, `  zonefile: "${z.origin}zone"`]),
          '',
        ].join('\n'),
      );
      const d = new Daemon(`nsd(${tag})`, spawn(bin('nsd'), ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
      d.logFile = join(sub, 'nsd.log');
      daemons.push(d);
      const addr = `127.0.0.1:${port}`;
      await waitServing(d, addr, 'pay.test', false);
      return { addr, conf, sub, zones };
    };

    const primary = await startNsd('nsd1', mkZones('127.0.0.2', '127.0.0.2'));
    const secondary = opts.disagreeing ? await startNsd('nsd2', mkZones('127.0.0.9', '127.0.0.9')) : undefined;
    const nsdPort = parseServer(primary.addr).port;

    const startUnbound = async (tag: 'bad' | 'good') => {
      const port = await freePort();
      const conf = join(dir, `unbound-${tag}.conf`);
      const ttl = opts.badMinTtl ?? 172800;
      writeFileSync(
        conf,
        [
          'server:',
          `  interface: 127.0.0.1@${port}`,
          `  port: ${port}`,
          '  username: ""',
          '  chroot: ""',
          `  directory: "${dir}"`,
          `  pidfile: "${dir}/unbound-${tag}.pid"`,
          '  use-syslog: no',
          '  logfile: ""',
          '  verbosity: 0',
          '  num-threads: 1',
          '  do-ip6: no',
          '  do-not-query-localhost: no',
          '  module-config: "iterator"',
          '  access-control: 127.0.0.0/8 allow',
          '  local-zone: "test." nodefault',
          '  local-zone: "pay.test." transparent',
          '  local-zone: "." refuse',
          '  outgoing-interface: 127.0.0.1',
          ...(tag === 'bad' ? [`  cache-min-ttl: ${ttl}`, `  cache-max-ttl: ${ttl}`] : []),
          'remote-control:',
          '  control-enable: yes',
          `  control-interface: ${dir}/unbound-${tag}.ctl`,
          '  control-use-cert: no',
          'stub-zone:',
          '  name: "pay.test."',
          `  stub-addr: 127.0.0.1@${nsdPort}`,
          'stub-zone:',
          '  name: "fast.pay.test."',
          `  stub-addr: 127.0.0.1@${nsdPort}`,
          '',
        ].join('\n'),
      );
      // unbound silently falls back to defaults (port 53) on a missing file: make sure it is there.
      if (!existsSync(conf)) throw new Error(`unbound config ${conf} missing`);
      const d = new Daemon(`unbound(${tag})`, spawn(bin('unbound'), ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
      daemons.push(d);
      const addr = `127.0.0.1:${port}`;
      await waitServing(d, addr, 'pay.test', true);
      return { addr, conf };
    };
    const bad = await startUnbound('bad');
    const good = await startUnbound('good');

    const zoneOf = (name: string) => {
      const n = name.replace(/\.$/, '').toLowerCase() + '.';
      const z = [...primary.zones].sort((a, b) => b.origin.length - a.origin.length).find((z) => n === z.origin || n.endsWith('.' + z.origin));
      if (!z) throw new Error(`no lab zone holds ${name}`);
      const owner = n === z.origin ? '@' : n.slice(0, -(z.origin.length + 1));
      return { z, owner };
    };

    let stopped = false;
    return {
      dir,
      authoritative: primary.addr,
      secondAuthoritative: secondary?.addr,
      authoritatives: secondary ? [primary.addr, secondary.addr] : [primary.addr],
      badResolver: bad.addr,
      goodResolver: good.addr,
      hooksHost: 'hooks.pay.test',
      fastHost: 'hooks.fast.pay.test',
      aliasHost: 'alias.pay.test',
      address(name) {
        const { z, owner } = zoneOf(name);
        return z.records.get(owner)?.value;
      },
      async migrate(name, newIp) {
        if (net.isIPv4(newIp) === false) throw new Error(`migrate: ${newIp} is not an IPv4 address`);
        const { z, owner } = zoneOf(name);
        const rec = z.records.get(owner);
        if (!rec || rec.type !== 'A') throw new Error(`migrate: ${name} has no A record in the lab`);
        rec.value = newIp;
        z.serial += 1;
        const file = join(primary.sub, `${z.origin}zone`);
        writeFileSync(file, renderZone(z));
        await pexecFile(bin('nsd-checkzone'), [z.origin, file]);
        await pexecFile(bin('nsd-control'), ['-c', primary.conf, 'reload', z.origin]);
        for (let i = 0; i < 100; i++) {
          if ((await servedSerial(primary.addr, z.origin)) === z.serial) return;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`nsd did not serve serial ${z.serial} of ${z.origin} after reload: ${readLog(primary.sub)}`);
      },
      async flush(which, zone = 'pay.test.') {
        const confs = which === 'both' ? [bad.conf, good.conf] : [which === 'bad' ? bad.conf : good.conf];
        for (const c of confs) await pexecFile(bin('unbound-control'), ['-c', c, 'flush_zone', zone]);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

function readLog(sub: string): string {
  return readLogFile(join(sub, 'nsd.log'));
}

function readLogFile(f: string): string {
  try {
    return readFileSync(f, 'utf8').slice(-1000);
  } catch {
    return '';
  }
}
