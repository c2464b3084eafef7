// Sharding: rendezvous ownership partitions any key set exactly and stays put when keys or shards are
// added (property-based, fast-check); flag resolution; two real agents splitting one config.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SHARDS, ownerOf, ownsKey, resolveShard, shardConfig, ShardError } from '../src/shard.ts';
import { runCli, startAgent, waitFor, type AgentProcess } from './helpers/agent-process.ts';
import type { LoadedConfig } from '../src/probe/types.ts';

// Store ids, probe names: any non-empty string, plus realistic BTCPay-like ids.
const key = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.stringMatching(/^[1-9A-HJ-NP-Za-km-z]{44}$/));
const keys = fc.uniqueArray(key, { minLength: 1, maxLength: 300 });
const count = fc.integer({ min: 1, max: 16 });

describe('shard ownership (rendezvous hashing)', () => {
  it('partitions every key set exactly: each key owned by one shard, no gaps, no overlaps', () => {
    fc.assert(
      fc.property(keys, count, (ks, n) => {
        const owners = ks.map((k) => Array.from({ length: n }, (_, i) => i).filter((i) => ownsKey({ index: i, count: n }, k)));
        expect(owners.every((o) => o.length === 1)).toBe(true);
        // The union of the shards' filtered configs is the config, and they are disjoint.
        const config = { probes: ks.map((name) => ({ name })) } as unknown as LoadedConfig;
        const parts = Array.from({ length: n }, (_, i) => shardConfig(config, { index: i, count: n }).probes.map((p) => p.name));
        expect(parts.flat().sort()).toEqual([...ks].sort());
        expect(new Set(parts.flat()).size).toBe(ks.length);
      }),
      { numRuns: 150 },
    );
  });

  it('adding one key moves no other key', () => {
    fc.assert(
      fc.property(keys, key, count, (ks, extra, n) => {
        fc.pre(!ks.includes(extra));
        const before = new Map(ks.map((k) => [k, ownerOf(k, n)]));
        const after = new Map([...ks, extra].map((k) => [k, ownerOf(k, n)]));
        for (const k of ks) expect(after.get(k)).toBe(before.get(k));
        expect(after.get(extra)).toBeGreaterThanOrEqual(0);
        expect(after.get(extra)).toBeLessThan(n);
      }),
      { numRuns: 150 },
    );
  });

  it('growing from N to N+1 shards moves keys only to the new shard', () => {
    fc.assert(
      fc.property(keys, count, (ks, n) => {
        for (const k of ks) {
          const was = ownerOf(k, n);
          const now = ownerOf(k, n + 1);
          if (now !== was) expect(now).toBe(n);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('spreads keys evenly and is stable across processes (pinned owners)', () => {
    const n = 4;
    const ks = Array.from({ length: 4000 }, (_, i) => `store-${i}`);
    const per = [0, 0, 0, 0];
    for (const k of ks) per[ownerOf(k, n)]!++;
    for (const c of per) expect(Math.abs(c - 1000)).toBeLessThan(150);
    // Pinned: a change to the hash would silently reshuffle every deployment's probes on upgrade.
    expect(['btcpay-delivery', 'receiver-synthetic', 'pay-dns', 'store-42'].map((k) => ownerOf(k, 3))).toEqual(PINNED);
    expect(ownerOf('anything', 1)).toBe(0);
  });
});
// Recorded once from the implementation; see the test above.
const PINNED = [2, 0, 2, 0];

describe('shard flags', () => {
  it('resolves explicit, environment and host-name (StatefulSet ordinal) indexes', () => {
    expect(resolveShard({})).toEqual({ index: 0, count: 1 });
    expect(resolveShard({ index: '2', count: '3' })).toEqual({ index: 2, count: 3 });
    expect(resolveShard({ count: '3' })).toEqual({ index: 0, count: 3 });
    expect(resolveShard({ index: 'auto', count: '3' }, {}, 'hookwatch-shard-2')).toEqual({ index: 2, count: 3 });
    expect(resolveShard({ index: 'auto', count: '3' }, { HOOKWATCH_SHARD_INDEX: '1' }, 'hookwatch-shard-2')).toEqual({ index: 1, count: 3 });
  });

  it('refuses what could run a probe twice or never', () => {
    const bad: Array<[Parameters<typeof resolveShard>[0], NodeJS.ProcessEnv, string, RegExp]> = [
      [{ index: '3', count: '3' }, {}, 'h', /out of range for --shard.count=3 \(0\.\.2\)/],
      [{ index: '-1', count: '3' }, {}, 'h', /non-negative integer/],
      [{ index: '1.5', count: '3' }, {}, 'h', /non-negative integer/],
      [{ index: '0', count: '0' }, {}, 'h', /--shard.count must be an integer from 1/],
      [{ index: '0', count: String(MAX_SHARDS + 1) }, {}, 'h', /--shard.count must be an integer/],
      [{ index: 'auto', count: '3' }, {}, 'hookwatch', /does not end in -N/],
      [{ index: 'auto', count: '3' }, { HOOKWATCH_SHARD_INDEX: 'x' }, 'hookwatch-1', /from HOOKWATCH_SHARD_INDEX must be a non-negative integer/],
      [{ index: 'auto', count: '2' }, {}, 'hookwatch-7', /shard index 7 \(from host name "hookwatch-7"\) is out of range/],
    ];
    for (const [opts, env, host] of bad) expect(() => resolveShard(opts, env, host)).toThrow(ShardError);
    for (const [opts, env, host, msg] of bad) expect(() => resolveShard(opts, env, host)).toThrow(msg);
  });
});

describe('hookwatch run --shard.index/--shard.count', () => {
  let dir: string;
  let target: Server;
  const hits = new Map<string, number>();
  const agents: AgentProcess[] = [];
  const names = Array.from({ length: 30 }, (_, i) => `probe-${i}`);
  let cfg: string;

  beforeAll(async () => {
    target = createServer((req, res) => {
      hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
      res.end('ok');
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as { port: number }).port;
    dir = mkdtempSync(join(tmpdir(), 'hw-shard-'));
    cfg = join(dir, 'probes.yaml');
    writeFileSync(
      cfg,
      `global:\n  interval: 1h\n  timeout: 2s\nprobes:\n${names.map((n) => `  - name: ${n}\n    type: http\n    url: http://127.0.0.1:${port}/${n}\n`).join('')}`,
    );
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await new Promise<void>((r) => target.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('two agents split the probes exactly: each probe runs once, on its owner, /metrics says which shard, reload re-splits', async () => {
    agents.push(await startAgent(cfg, { extraArgs: ['--shard.index', '0', '--shard.count', '2'] }));
    // The second one derives its index from HOOKWATCH_SHARD_INDEX, as a StatefulSet without ordinals in the host name would.
    agents.push(await startAgent(cfg, { extraArgs: ['--shard.index=auto', '--shard.count=2'], env: { HOOKWATCH_SHARD_INDEX: '1' } }));
    const status = await Promise.all(
      agents.map(async (a) => ((await (await fetch(`${a.url}/status`)).json()) as { probes: Array<{ name: string }> }).probes.map((p) => p.name)),
    );
    expect([...status[0]!, ...status[1]!].sort()).toEqual([...names].sort());
    expect(status[0]!.filter((n) => status[1]!.includes(n))).toEqual([]);
    for (const [i, s] of status.entries()) for (const n of s) expect(ownerOf(n, 2)).toBe(i);
    // Every probe's first run (interval 1h, so exactly one) reaches the target once: none twice, none missed.
    await waitFor(() => hits.size === names.length, { timeoutMs: 15_000, what: 'every probe run once' });
    await new Promise((r) => setTimeout(r, 500));
    expect([...hits.values()].every((h) => h === 1)).toBe(true);
    const metrics = await Promise.all(agents.map(async (a) => (await fetch(`${a.url}/metrics`)).text()));
    expect(metrics[0]).toContain('hookwatch_shard_info{index="0",count="2"} 1');
    expect(metrics[1]).toContain('hookwatch_shard_info{index="1",count="2"} 1');
    const owned = metrics.map((m) => Number(/^hookwatch_shard_owned_probes (\d+)/m.exec(m)?.[1]));
    expect(owned[0]! + owned[1]!).toBe(names.length);
    expect(metrics[0]).toContain(`hookwatch_shard_configured_probes ${names.length}`);
    // Series of a probe appear only on its owner.
    expect(metrics[0]).not.toContain(`probe="${status[1]![0]}"`);

    // A reload re-applies the split: added probes land on their owner only, the others stay put.
    const more = [...names, ...Array.from({ length: 10 }, (_, i) => `added-${i}`)];
    const port = (target.address() as { port: number }).port;
    writeFileSync(
      cfg,
      `global:\n  interval: 1h\n  timeout: 2s\nprobes:\n${more.map((n) => `  - name: ${n}\n    type: http\n    url: http://127.0.0.1:${port}/${n}\n`).join('')}`,
    );
    for (const a of agents) a.child.kill('SIGHUP');
    const after = await waitFor(
      async () => {
        const s = await Promise.all(
          agents.map(async (a) => ((await (await fetch(`${a.url}/status`)).json()) as { probes: Array<{ name: string }> }).probes.map((p) => p.name)),
        );
        return s[0]!.length + s[1]!.length === more.length ? s : undefined;
      },
      { timeoutMs: 10_000, what: 'both shards reloaded' },
    );
    for (const [i, s] of after.entries()) {
      for (const n of s) expect(ownerOf(n, 2)).toBe(i);
      expect(s.filter((n) => names.includes(n)).sort()).toEqual([...status[i]!].sort());
    }
  }, 60_000);

  it('`check --shard.count` prints which shard runs each probe, matching the running shards', async () => {
    const port = (target.address() as { port: number }).port;
    const file = join(dir, 'check.yaml');
    writeFileSync(file, `probes:\n${names.map((n) => `  - name: ${n}\n    type: http\n    url: http://127.0.0.1:${port}/${n}\n`).join('')}`);
    const r = await runCli(['check', '--config.file', file, '--shard.count', '2']);
    expect(r.code, r.stderr).toBe(0);
    for (const i of [0, 1]) {
      const line = r.stdout.split('\n').find((l) => l.startsWith(`shard ${i}: `))!;
      expect(line.slice(`shard ${i}: `.length).split(', ').sort()).toEqual(names.filter((n) => ownerOf(n, 2) === i).sort());
    }
    // A bad option value is a usage error: exit 2, as in every command.
    expect((await runCli(['check', '--config.file', file, '--shard.count', '0'])).code).toBe(2);
  });

  it('exits 2 with a clear message for an impossible shard', async () => {
    const r = await runCli(['run', '--config.file', cfg, '--shard.index', '2', '--shard.count', '2', '--web.listen-address', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('shard index 2 (from --shard.index) is out of range for --shard.count=2 (0..1)');
  });
});
