// PLACEHOLDER: replaced by the real implementation of the reconcile probe.
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';

export const reconcile = defineProbe({
  type: 'reconcile',
  schema: z.object({}).passthrough(),
  async run() {
    return { ok: false, reason: 'reconcile is not implemented yet' };
  },
});
