// The simplest kind: one HTTP GET (gather), pass when the status is expected (evaluate.ts); no metrics
// of its own beyond the core's. Keeps the core testable end to end.
import { request } from '../../src/clients/undici.ts';
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';
import { refuseUrlCredentials } from '../../src/redact-url.ts';
import { evaluate, type HttpObservation } from './evaluate.ts';

export const httpProbe = defineProbe({
  type: 'http',
  runbook: 'HookwatchProbeFailing',
  schema: z.strictObject({
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
      .superRefine(refuseUrlCredentials)
      .describe('URL to GET (redirects are not followed)'),
    expectStatus: z
      .union([z.int().min(100).max(599), z.array(z.int().min(100).max(599)).min(1)])
      .optional()
      .describe('Status code(s) that pass (default: any 2xx)'),
  }),
  async run(probe, ctx) {
    const seen = await fetchStatus(probe.url, ctx.signal);
    return 'error' in seen ? { ok: false, reason: seen.error } : evaluate(seen, probe.expectStatus);
  },
});

/** One GET, body discarded; a transport failure comes back as its sentence. */
async function fetchStatus(url: string, signal: AbortSignal): Promise<HttpObservation | { error: string }> {
  const started = performance.now();
  try {
    const res = await request(url, { method: 'GET', signal, maxRedirections: 0 } as Parameters<typeof request>[1]);
    await res.body.dump();
    return { status: res.statusCode, seconds: (performance.now() - started) / 1000 };
  } catch (e) {
    const err = e as Error & { code?: string };
    return { error: `request failed: ${err.code ?? err.name}: ${err.message}` };
  }
}
