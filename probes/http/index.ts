// The simplest kind: one HTTP GET, pass when the status is expected. Keeps the core testable end to end.
import { request } from 'undici';
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';
import { refuseUrlCredentials } from '../../src/redact-url.ts';

export const httpProbe = defineProbe({
  type: 'http',
  runbook: 'HookwatchProbeFailing',
  schema: z.strictObject({
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).superRefine(refuseUrlCredentials).describe('URL to GET (redirects are not followed)'),
    expectStatus: z
      .union([z.int().min(100).max(599), z.array(z.int().min(100).max(599)).min(1)])
      .optional()
      .describe('Status code(s) that pass (default: any 2xx)'),
  }),
  async run(probe, ctx) {
    const started = performance.now();
    try {
      const res = await request(probe.url, { method: 'GET', signal: ctx.signal, maxRedirections: 0 } as Parameters<typeof request>[1]);
      await res.body.dump();
      const want = probe.expectStatus === undefined ? undefined : ([] as number[]).concat(probe.expectStatus);
      const ok = want ? want.includes(res.statusCode) : res.statusCode >= 200 && res.statusCode < 300;
      const details = { status: res.statusCode, seconds: (performance.now() - started) / 1000 };
      return ok ? { ok, details } : { ok, reason: `HTTP ${res.statusCode}, expected ${want ? want.join(' or ') : '2xx'}`, details };
    } catch (e) {
      const err = e as Error & { code?: string };
      return { ok: false, reason: `request failed: ${err.code ?? err.name}: ${err.message}` };
    }
  },
});
