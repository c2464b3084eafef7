// PLACEHOLDER: replaced by the real implementation of the delivery_rate probe.
import { z } from 'zod';
import { defineProbe } from '../../src/probe/types.ts';

export const deliveryRate = defineProbe({
  type: 'delivery_rate',
  schema: z.object({}).passthrough(),
  async run() {
    return { ok: false, reason: 'delivery_rate is not implemented yet' };
  },
});
