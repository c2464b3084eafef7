// PLACEHOLDER: replaced by the real implementation of the dns_drift probe.
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';

export const dnsDrift = defineProbe({
  type: 'dns_drift',
  schema: z.object({}).passthrough(),
  async run() {
    return { ok: false, reason: 'dns_drift is not implemented yet' };
  },
});
