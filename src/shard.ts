// Sharding: several agents split one configuration so that every probe (and every key a probe may
// fan out over later, such as a store id) is run by exactly one of them. Why rendezvous (highest
// random weight) hashing: ownership depends only on the key and the shard count, so every replica
// decides alone, with no coordination; adding a key moves nothing else, and growing from N to N+1
// shards moves only the keys the new shard wins (about 1/(N+1) of them), never between old shards.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import client from 'prom-client';
import type { LoadedConfig } from './probe/types.ts';

export interface Shard {
  /** 0-based index of this agent. */
  index: number;
  /** Number of shards; 1 means unsharded. */
  count: number;
}

export const UNSHARDED: Shard = { index: 0, count: 1 };

/** Upper bound on --shard.count: far above any sensible deployment, low enough to catch typos. */
export const MAX_SHARDS = 1024;

/** 52 bits of SHA-256 over (shard, key): stable across Node versions and platforms. */
function weight(shardIndex: number, key: string): number {
  const h = createHash('sha256').update(`${shardIndex}\u0000${key}`).digest();
  return h.readUIntBE(0, 6) * 16 + (h[6]! >> 4);
}

/** The shard that owns `key` among `count` shards. */
export function ownerOf(key: string, count: number): number {
  if (count <= 1) return 0;
  let best = 0;
  let bestW = -1;
  for (let i = 0; i < count; i++) {
    const w = weight(i, key);
    if (w > bestW) {
      bestW = w;
      best = i;
    }
  }
  return best;
}

/** Whether this shard owns `key` (a probe name today; a store id or any other fan-out key later). */
export function ownsKey(shard: Shard, key: string): boolean {
  return shard.count <= 1 || ownerOf(key, shard.count) === shard.index;
}

export class ShardError extends Error {}

/**
 * Resolve --shard.index / --shard.count. The index may be a number, or `auto`: then the environment
 * variable HOOKWATCH_SHARD_INDEX, else the trailing `-N` of the host name (a StatefulSet pod
 * `hookwatch-2` is shard 2). Anything ambiguous is an error: a guessed index could run a probe twice.
 */
export function resolveShard(opts: { index?: string; count?: string }, env: NodeJS.ProcessEnv = process.env, host: string = hostname()): Shard {
  if (opts.index === undefined && opts.count === undefined) return UNSHARDED;
  const count = Number(opts.count ?? '1');
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS)
    throw new ShardError(`--shard.count must be an integer from 1 to ${MAX_SHARDS}, got "${opts.count}"`);
  let raw = opts.index ?? '0';
  let from = '--shard.index';
  if (raw === 'auto') {
    if (env.HOOKWATCH_SHARD_INDEX !== undefined && env.HOOKWATCH_SHARD_INDEX !== '') {
      raw = env.HOOKWATCH_SHARD_INDEX;
      from = 'HOOKWATCH_SHARD_INDEX';
    } else {
      const m = /-(\d+)$/.exec(host);
      if (!m)
        throw new ShardError(`--shard.index=auto: host name "${host}" does not end in -N (a StatefulSet pod ordinal) and HOOKWATCH_SHARD_INDEX is not set`);
      raw = m[1]!;
      from = `host name "${host}"`;
    }
  }
  if (!/^\d+$/.test(raw)) throw new ShardError(`shard index from ${from} must be a non-negative integer, got "${raw}"`);
  const index = Number(raw);
  if (index >= count) throw new ShardError(`shard index ${index} (from ${from}) is out of range for --shard.count=${count} (0..${count - 1})`);
  return { index, count };
}

/** The part of a configuration this shard runs: the probes it owns (sources are shared, unused ones are harmless). */
export function shardConfig(config: LoadedConfig, shard: Shard): LoadedConfig {
  if (shard.count <= 1) return config;
  return { ...config, probes: config.probes.filter((p) => ownsKey(shard, p.name)) };
}

/**
 * The shard's view of each loaded configuration, with its metrics: hookwatch_shard_info{index,count},
 * and how many probes this shard runs out of those configured, so a dashboard or rule can check that
 * the shards together cover every probe (sum of owned == configured).
 */
export class ShardFilter {
  readonly #owned: client.Gauge;
  readonly #configured: client.Gauge;

  constructor(
    readonly shard: Shard,
    register: client.Registry,
  ) {
    new client.Gauge({
      name: 'hookwatch_shard_info',
      help: 'This agent is shard `index` of `count` (count 1: unsharded); each probe runs on exactly one shard.',
      labelNames: ['index', 'count'],
      registers: [register],
    }).set({ index: String(shard.index), count: String(shard.count) }, 1);
    this.#owned = new client.Gauge({ name: 'hookwatch_shard_owned_probes', help: 'Probes of the configuration this shard runs.', registers: [register] });
    this.#configured = new client.Gauge({
      name: 'hookwatch_shard_configured_probes',
      help: 'Probes in the configuration, across all shards.',
      registers: [register],
    });
  }

  apply(config: LoadedConfig): LoadedConfig {
    const mine = shardConfig(config, this.shard);
    this.#owned.set(mine.probes.length);
    this.#configured.set(config.probes.length);
    return mine;
  }
}
