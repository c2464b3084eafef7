// What decides whether a reload changed a probe. JSON.stringify alone is blind to secret rotation
// (a Secret serialises to its reference, and the reference stays the same when the file or the
// variable behind it changes), so secrets enter the fingerprint as a keyed hash of their value.
// The key is random per process: the fingerprint never leaves memory, and even if it did it could
// not be used to test guesses of a secret offline.
import { createHmac, randomBytes } from 'node:crypto';
import type { LoadedConfig, ProbeBase } from '../probe/types.ts';
import { Secret } from '../secret.ts';

const KEY = randomBytes(32);

export function secretDigest(s: Secret): string {
  return createHmac('sha256', KEY).update(s.reveal()).digest('base64url');
}

/** Replace every Secret in a tree by its reference and digest, so JSON.stringify sees values change. */
function expand(v: unknown, depth = 0): unknown {
  if (v instanceof Secret) return { secret: v.ref, digest: secretDigest(v) };
  if (depth > 20 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => expand(x, depth + 1));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x, depth + 1)]));
}

/** The sources a probe names: any source whose name is the value of one of the probe's keys. */
function namedSources(probe: ProbeBase & Record<string, unknown>, config: LoadedConfig): Record<string, unknown> {
  const used: Record<string, unknown> = {};
  for (const v of Object.values(probe)) {
    for (const name of Array.isArray(v) ? v : [v]) {
      if (typeof name === 'string' && Object.hasOwn(config.sources, name)) used[name] = config.sources[name];
    }
  }
  return used;
}

export interface ProbeFingerprint {
  /** Everything the probe's runs depend on: its own keys and secrets, and the sources it names. */
  all: string;
  /** What per-probe state was earned against: the sources it names and the values of its secrets. */
  identity: string;
}

export function fingerprint(probe: ProbeBase & Record<string, unknown>, config: LoadedConfig): ProbeFingerprint {
  const sources = expand(namedSources(probe, config));
  const secrets: string[] = [];
  collect(probe, secrets);
  return {
    all: JSON.stringify({ probe: expand(probe), sources }),
    identity: JSON.stringify({ type: probe.type, sources, secrets }),
  };
}

function collect(v: unknown, out: string[], depth = 0): void {
  if (v instanceof Secret) {
    out.push(`${v.ref}=${secretDigest(v)}`);
    return;
  }
  if (depth > 20 || v === null || typeof v !== 'object') return;
  for (const x of Array.isArray(v) ? v : Object.values(v)) collect(x, out, depth + 1);
}
