// PLACEHOLDER: replaced by the real implementation of the synthetic probe.
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';

export const synthetic = defineProbe({
  type: 'synthetic',
  schema: z.object({}).passthrough(),
  async run() {
    return { ok: false, reason: 'synthetic is not implemented yet' };
  },
});
