// The status view without a browser: which failure is explained by which root cause (the same
// reasoning as the Alertmanager inhibition), and the page's order: banner, root cause, its
// consequences, other pages, tickets, passing. (The browser test checks the rendering itself.)
import { describe, expect, it } from 'vitest';
import { rootCauses, runView, type StatusView } from '../src/server/status.ts';
import { renderStatusPage } from '../src/server/page.ts';
import { RunHistory } from '../src/history/run-history.ts';
import type { ProbeResult } from '../src/probe/types.ts';

const T0 = Date.UTC(2026, 4, 1, 12, 0, 0);
function view(name: string, type: string, result: ProbeResult | undefined, history?: RunHistory) {
  const rec = result && {
    runId: `${name}-1`,
    startedAt: T0,
    finishedAt: T0 + 50,
    durationSeconds: 0.05,
    result,
    outcome: result.ok ? ('success' as const) : ('failure' as const),
  };
  if (rec && history) history.record(name, rec);
  return runView(name, type, rec, { history: history?.get(name), runbook: 'HookwatchProbeFailing' });
}

describe('rootCauses', () => {
  it('groups failures delivering to a host under the probe that explains that host, nothing else', () => {
    const views = [
      view('dns', 'dns_drift', { ok: false, severity: 'page', explains: ['hooks.pay.test'] }),
      view('synthetic', 'synthetic', { ok: false }),
      view('delivery', 'delivery_rate', { ok: false }),
      view('other', 'synthetic', { ok: false }),
      view('fine', 'http', { ok: true }),
    ];
    const dest: Record<string, string[]> = { synthetic: ['hooks.pay.test'], delivery: ['hooks.pay.test'], other: ['erp.pay.test'], fine: ['hooks.pay.test'] };
    const causes = rootCauses(views, (n) => dest[n] ?? []);
    expect(Object.fromEntries(causes)).toEqual({ synthetic: { probe: 'dns', host: 'hooks.pay.test' }, delivery: { probe: 'dns', host: 'hooks.pay.test' } });
  });

  it('a passing probe that sees drift within the TTL still explains the failures it causes', () => {
    const views = [view('dns', 'dns_drift', { ok: true, explains: ['hooks.pay.test'] }), view('synthetic', 'synthetic', { ok: false })];
    expect(rootCauses(views, () => ['hooks.pay.test']).get('synthetic')).toEqual({ probe: 'dns', host: 'hooks.pay.test' });
  });
});

describe('renderStatusPage', () => {
  const page = (probes: Array<ReturnType<typeof view> & { likelyRootCause: { probe: string; host: string } | null }>) =>
    renderStatusPage({ ready: true, config: { file: 'f', lastReloadSuccessful: true, lastReloadError: null }, probes } as unknown as StatusView, {
      configFile: 'f',
      now: T0 + 60_000,
    });

  it('puts the banner, the root cause and its consequences first, then other pages, tickets, passing', () => {
    const h = new RunHistory();
    const html = page([
      { ...view('fine', 'http', { ok: true }, h), likelyRootCause: null },
      { ...view('ttl', 'dns_drift', { ok: false, severity: 'ticket', fix: 'honour TTLs' }, h), likelyRootCause: null },
      { ...view('lonely', 'http', { ok: false, reason: 'HTTP 503' }, h), likelyRootCause: null },
      {
        ...view('synthetic', 'synthetic', { ok: false, reason: 'refused', action: 'redeliver `y`' }, h),
        likelyRootCause: { probe: 'dns', host: 'hooks.pay.test' },
      },
      {
        ...view('dns', 'dns_drift', { ok: false, severity: 'page', reason: 'stale', action: 'flush `x`', fix: 'honour TTLs', explains: ['hooks.pay.test'] }, h),
        likelyRootCause: null,
      },
    ]);
    const at = (s: string) => {
      const i = html.indexOf(s);
      expect(i, s).toBeGreaterThan(-1);
      return i;
    };
    const order = [
      at('✕ OUTAGE: 3 probes failing at page severity, 1 likely root cause'),
      at('Likely root cause: dns (dns_drift) on <code>hooks.pay.test</code>'),
      at('data-probe="dns"'),
      at('Caused by it (1): synthetic'),
      at('data-probe="synthetic"'),
      at('<h2>Failing (page)</h2>'),
      at('data-probe="lonely"'),
      at('<h2>Tickets (not an outage)</h2>'),
      at('data-probe="ttl"'),
      at('<h2>Passing</h2>'),
      at('data-probe="fine"'),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(html).toContain('<b>Do now:</b> flush <code>x</code>');
    // A consequence's own action (a redelivery) comes after the root cause's.
    expect(html).toContain('<b>After the root cause is fixed:</b> redeliver <code>y</code>');
    expect(html.indexOf('After the root cause is fixed')).toBeGreaterThan(html.indexOf('<b>Do now:</b>'));
    expect(html).toContain('◆ TICKET');
    expect(html).toMatch(/<noscript><meta http-equiv="refresh" content="10"><\/noscript>/);
    expect(html).toMatch(/failing since <time datetime="2026-05-01T12:00:00.000Z" title="2026-05-01 12:00:00 UTC" data-rel="ago">1m 0s ago<\/time>/);
  });

  it('says no outage when only tickets are open, and all passing otherwise', () => {
    expect(page([{ ...view('ttl', 'dns_drift', { ok: false, severity: 'ticket' }), likelyRootCause: null }])).toContain(
      '◆ No outage; 1 ticket to fix in working hours',
    );
    expect(page([{ ...view('fine', 'http', { ok: true }), likelyRootCause: null }])).toContain('✓ All 1 probes passing');
  });

  it('escapes what probes report', () => {
    const html = page([{ ...view('x', 'http', { ok: false, reason: '<script>alert(1)</script>' }), likelyRootCause: null }]);
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
