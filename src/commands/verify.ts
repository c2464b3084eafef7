// `hookwatch verify`: the migration sign-off for one webhook destination host, as the post-mortem's
// runbook asks after every move: the sender's resolver serves the new address (the expected one, or
// what the authoritative servers serve), and every configured probe that names the host (the signed
// test webhook, the DNS check) passes now. One report, one exit code: 0 signed off, 1 not, 2 usage.
import net from 'node:net';
import { lookupVia, parseServer, resolveAuthoritative, systemNameservers, type Server } from '../clients/dns/index.ts';
import type { LoadedConfig, ProbeKind } from '../probe/types.ts';
import { MetricRegistry } from '../metrics/registry.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import { createLogger } from '../log.ts';

export interface Check {
  name: string;
  ok: boolean;
  /** A finding that does not block sign-off (e.g. an inflated TTL: fix it before the next move). */
  warning?: boolean;
  detail: string;
}

export interface VerifyReport {
  host: string;
  resolver: string;
  ok: boolean;
  checks: Check[];
}

export async function verifyHost(o: {
  config: LoadedConfig;
  kinds: ReadonlyArray<ProbeKind>;
  host: string;
  expect?: string[];
  resolver?: string;
  authoritative?: string[];
  timeoutMs?: number;
}): Promise<VerifyReport> {
  const host = o.host.toLowerCase();
  const resolver = o.resolver ?? o.config.global.resolver ?? 'system';
  const timeoutMs = o.timeoutMs ?? 3000;
  const checks: Check[] = [];

  // 1. What the sender's resolver answers.
  let answered: string[] = [];
  let resolverTtl: number | undefined;
  try {
    const r = await lookupVia(resolver, host, { timeoutMs });
    answered = [...r.addresses].sort();
    resolverTtl = r.ttl;
  } catch (e) {
    checks.push({ name: 'resolver', ok: false, detail: `${resolver} cannot resolve ${host}: ${(e as Error).message}` });
  }

  // 2. What the zone serves, from the configured authoritative servers or found via the resolver.
  const fromConfig = o.config.probes.flatMap((p) => (Array.isArray(p.authoritative) ? (p.authoritative as string[]) : []));
  const fixed = (o.authoritative ?? fromConfig).map(parseServer);
  const discovery: Server[] = resolver === 'system' ? systemNameservers() : [parseServer(resolver)];
  const auth = await resolveAuthoritative(host, { servers: fixed.length ? fixed : undefined, discovery, timeoutMs }).catch((e: Error) => ({
    rcode: 'FAILED',
    addresses: [] as string[],
    ttl: undefined,
    errors: [e.message],
  }));
  const served = [...auth.addresses].sort();

  if (answered.length) {
    const expected = o.expect?.length ? [...o.expect].sort() : served;
    const what = o.expect?.length
      ? `expected ${expected.join(', ')}`
      : auth.rcode === 'NOERROR'
        ? `the authoritative servers serve ${served.join(', ')}`
        : undefined;
    if (!what)
      checks.push({
        name: 'resolver',
        ok: false,
        detail: `${resolver} answers ${answered.join(', ')}, but no authoritative server answered (${auth.errors.slice(0, 2).join('; ')}): pass --expect IP to judge the answer`,
      });
    else {
      const same = answered.length === expected.length && answered.every((a, i) => a === expected[i]);
      checks.push({
        name: 'resolver',
        ok: same,
        detail: same
          ? `${resolver} answers ${host} -> ${answered.join(', ')} (${what})`
          : `${resolver} still answers ${host} -> ${answered.join(', ')}, ${what}: flush its cache (see the HookwatchDNSDrift runbook)`,
      });
    }
  }
  if (o.expect?.length && auth.rcode === 'NOERROR') {
    const same = served.length === o.expect.length && [...o.expect].sort().every((a, i) => a === served[i]);
    checks.push({
      name: 'authoritative',
      ok: same,
      detail: same
        ? `the authoritative servers serve ${served.join(', ')}`
        : `the authoritative servers serve ${served.join(', ') || 'nothing'}, not ${o.expect.join(', ')}: the record change is not (fully) made`,
    });
  }
  if (resolverTtl !== undefined && auth.ttl !== undefined && resolverTtl > auth.ttl) {
    checks.push({
      name: 'ttl',
      ok: true,
      warning: true,
      detail: `${resolver} hands out TTL ${resolverTtl}s, above the authoritative ${auth.ttl}s: the next move will drift too (see HookwatchResolverTTLInflated)`,
    });
  }

  // 3. Every configured probe that names the host, run once now (the signed test webhook arrives).
  const named = o.config.probes.filter((p) =>
    JSON.stringify({ ...p, name: undefined })
      .toLowerCase()
      .includes(host),
  );
  if (!named.length) {
    checks.push({
      name: 'probes',
      ok: false,
      detail: `no configured probe names ${host}: add a synthetic probe with a target on it, so a signed test webhook proves delivery`,
    });
  } else {
    const scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log: createLogger({ level: 'error' }), kinds: o.kinds });
    scheduler.apply({ ...o.config, probes: named });
    const runs = await Promise.all(named.map(async (p) => ({ p, rec: await scheduler.runOnce(p.name) })));
    await scheduler.stop(100);
    for (const { p, rec } of runs) {
      const r = rec.result;
      // A latent finding (ticket) does not block the sign-off; it is reported.
      const ticket = !r.ok && r.severity === 'ticket';
      checks.push({
        name: `probe ${p.name} (${p.type})`,
        ok: r.ok || ticket,
        ...(ticket ? { warning: true } : {}),
        detail: r.ok ? 'passes' : `${r.reason ?? 'failed'}${r.action ? ` Do now: ${r.action}` : ''}`,
      });
    }
  }
  return { host, resolver, ok: checks.every((c) => c.ok), checks };
}

export function formatVerify(r: VerifyReport): string {
  const lines = r.checks.map((c) => `${c.ok ? (c.warning ? 'WARN' : 'PASS') : 'FAIL'}  ${c.name}: ${c.detail}`);
  lines.push(
    r.ok
      ? `SIGNED OFF: ${r.host} is served and reached correctly from the sender.`
      : `NOT SIGNED OFF: ${r.host}: ${r.checks.filter((c) => !c.ok).length} check(s) failed.`,
  );
  return lines.join('\n');
}

export function isIp(s: string): boolean {
  return net.isIP(s) !== 0;
}
