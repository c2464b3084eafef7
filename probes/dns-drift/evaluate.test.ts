// The dns_drift verdict for one host from hand-written answers: no DNS server, no clock.
import { describe, expect, it } from 'vitest';
import type { AuthoritativeAnswer, RecursiveAnswer } from '../../src/clients/dns/index.ts';
import { evaluateHost, flushAction, graceSeconds, summarizeHosts, TTL_HELP, type HostInput } from './evaluate.ts';

const T0 = Date.UTC(2026, 10, 23, 12);
const res = (over: Partial<RecursiveAnswer> = {}): RecursiveAnswer => ({
  addresses: ['192.0.2.1'],
  maxTtl: 300,
  ttl: 300,
  rcode: 'NOERROR',
  queries: 1,
  ...over,
});
const auth = (over: Partial<AuthoritativeAnswer> = {}): AuthoritativeAnswer => ({
  addresses: ['192.0.2.1'],
  ttl: 300,
  rcode: 'NOERROR',
  disagreements: [],
  asked: [],
  errors: [],
  queries: 1,
  ...over,
});
const host = (over: Partial<HostInput>): HostInput => ({
  host: 'hooks.pay.test',
  resolver: '127.0.0.1:53',
  resolverServers: [{ host: '127.0.0.1', port: 53 }],
  res: res(),
  auth: auth(),
  graceS: 60,
  nowMs: T0,
  ...over,
});

describe('dns_drift verdict', () => {
  it('passes when the resolver serves what the authority serves, with no TTL inflation', () => {
    const e = evaluateHost(host({}));
    expect(e.report).toMatchObject({ ok: true, verdicts: ['ok'], sentences: [] });
    expect(e.numbers).toEqual({
      resolverTtl: 300,
      authoritativeFailure: 0,
      verdict: { authoritativeTtl: 300, ttlInflated: 0, disagreement: 0, resolverFailure: 0, drift: 0, driftSeconds: 0, stale: 0 },
    });
    expect(e.driftSince).toBeUndefined();
  });

  it('a fresh drift is reported but passes until it outlasts the TTL plus the grace, then it is stale', () => {
    const moved = { auth: auth({ addresses: ['192.0.2.9'] }) };
    const first = evaluateHost(host(moved));
    expect(first.report).toMatchObject({ ok: true, verdicts: ['drift'] });
    expect(first.driftSince).toBe(T0);
    const later = evaluateHost(host({ ...moved, nowMs: T0 + 361_000, driftSince: T0 }));
    expect(later.report).toMatchObject({ ok: false, verdicts: ['stale'] });
    expect(later.report.sentences[0]).toContain('longer than the TTL (300s) plus grace (60s)');
    expect(later.report.actions).toEqual([flushAction('hooks.pay.test', '127.0.0.1:53', [{ host: '127.0.0.1', port: 53 }])]);
    expect(later.report.actions[0]).toContain('`unbound-control flush hooks.pay.test`');
    expect(later.report.fixes).toEqual([TTL_HELP]);
    expect(later.numbers.verdict).toMatchObject({ drift: 1, driftSeconds: 361, stale: 1 });
    expect(later.driftSince).toBe(T0);
  });

  it('flags a resolver TTL above the authoritative one, and does not repeat the TTL fix on a stale drift', () => {
    const e = evaluateHost(host({ res: res({ maxTtl: 86400 }), auth: auth({ addresses: ['192.0.2.9'] }), nowMs: T0 + 400_000, driftSince: T0 }));
    expect(e.report.verdicts).toEqual(['ttl_inflated', 'stale']);
    expect(e.report.fixes.filter((f) => f === TTL_HELP)).toHaveLength(1);
    // What is broken now comes first; the latent TTL risk is told last.
    expect(e.report.sentences[0]).toContain('still answers');
    expect(e.report.sentences[1]).toContain('old address 24h longer than intended');
  });

  it('a resolver that fails while the authority answers is a resolver failure, not a drift', () => {
    const e = evaluateHost(host({ res: res({ addresses: [], maxTtl: undefined, rcode: 'SERVFAIL', error: 'upstream down' }) }));
    expect(e.report).toMatchObject({ ok: false, verdicts: ['resolver_failure'] });
    expect(e.report.sentences[0]).toBe(
      'hooks.pay.test: resolver 127.0.0.1:53 answered SERVFAIL (upstream down) while the authoritative servers serve 192.0.2.1.',
    );
    expect(e.numbers.verdict).toMatchObject({ resolverFailure: 1, drift: 0 });
    expect(e.numbers.resolverTtl).toBeUndefined();
  });

  it('without an authoritative answer there is no verdict to export, and the drift start is kept', () => {
    const e = evaluateHost(host({ auth: auth({ rcode: 'FAILED', addresses: [], ttl: undefined, errors: ['timeout'] }), driftSince: T0 - 5000 }));
    expect(e.report).toMatchObject({ ok: false, verdicts: ['authoritative_failure'] });
    expect(e.numbers).toEqual({ resolverTtl: 300, authoritativeFailure: 1 });
    expect(e.driftSince).toBe(T0 - 5000);
  });

  it('reports disagreeing authoritative servers and a name that does not exist', () => {
    const split = evaluateHost(
      host({ auth: auth({ disagreements: [{ name: 'hooks.pay.test', type: 'A', answers: { a: ['192.0.2.1'], b: ['192.0.2.9'] } }] }) }),
    );
    expect(split.report.verdicts).toEqual(['authoritative_disagreement']);
    expect(split.report.sentences[0]).toContain('a serves 192.0.2.1; b serves 192.0.2.9');
    const gone = evaluateHost(host({ res: res({ addresses: [], rcode: 'NXDOMAIN', maxTtl: undefined }), auth: auth({ addresses: [], rcode: 'NXDOMAIN' }) }));
    expect(gone.report).toMatchObject({ ok: false, verdicts: ['nxdomain'] });
  });

  it('the grace shorthand wins over the threshold, which wins over the default', () => {
    expect(graceSeconds({ grace: 10_000, thresholds: { grace_seconds: 30 } })).toBe(10);
    expect(graceSeconds({ thresholds: { grace_seconds: 30 } })).toBe(30);
    expect(graceSeconds({ thresholds: {} })).toBe(60);
  });

  it('the run fails on any host worse than a fresh drift, listing hosts in config order and each fix once', () => {
    const stale = evaluateHost(host({ host: 'b.test', auth: auth({ addresses: ['192.0.2.9'] }), nowMs: T0 + 400_000, driftSince: T0 })).report;
    const stale2 = evaluateHost(host({ host: 'c.test', auth: auth({ addresses: ['192.0.2.9'] }), nowMs: T0 + 400_000, driftSince: T0 })).report;
    const fresh = evaluateHost(host({ host: 'a.test', auth: auth({ addresses: ['192.0.2.9'] }) })).report;
    expect(summarizeHosts([fresh], ['a.test'], {}).ok).toBe(true);
    const r = summarizeHosts([stale2, stale, fresh], ['a.test', 'b.test', 'c.test'], { resolver: 'system' });
    expect(r.ok).toBe(false);
    expect(Object.keys(r.details!.hosts as object)).toEqual(['a.test', 'b.test', 'c.test']);
    expect(r.reason).toMatch(/^b\.test: .* c\.test: /);
    const servers = [{ host: '127.0.0.1', port: 53 }];
    expect(r.action).toBe(`${flushAction('b.test', '127.0.0.1:53', servers)} ${flushAction('c.test', '127.0.0.1:53', servers)}`);
    expect(r.fix).toBe(TTL_HELP);
    expect(r.severity).toBe('page');
    expect(r.explains).toEqual(['a.test', 'b.test', 'c.test']);
    expect(r.since).toBe(T0);
  });

  it('an inflated TTL alone is a ticket with the lasting fix and no action', () => {
    const e = evaluateHost(host({ res: res({ maxTtl: 86400 }) })).report;
    const r = summarizeHosts([e], ['hooks.pay.test'], {});
    expect(r).toMatchObject({ ok: false, severity: 'ticket', runbook: 'HookwatchResolverTTLInflated', fix: TTL_HELP });
    expect(r.action).toBeUndefined();
    expect(r.explains).toBeUndefined();
  });
});
