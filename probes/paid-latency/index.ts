// PLACEHOLDER: replaced by the real implementation of the paid_latency probe.
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';

export const paidLatency = defineProbe({
  type: 'paid_latency',
  schema: z.object({}).passthrough(),
  async run() {
    return { ok: false, reason: 'paid_latency is not implemented yet' };
  },
});
