// Every probe kind the agent knows. The core imports this module only; adding a kind is one line here
// and one folder beside it.
import type { ProbeKind } from '../src/probe/types.ts';
import { httpProbe } from './http/index.ts';
import { deliveryRate } from './delivery-rate/index.ts';
import { paidLatency } from './paid-latency/index.ts';
import { synthetic } from './synthetic/index.ts';
import { dnsDrift } from './dns-drift/index.ts';
import { reconcile } from './reconcile/index.ts';

export const PROBE_KINDS: ReadonlyArray<ProbeKind> = [httpProbe, deliveryRate, paidLatency, synthetic, dnsDrift, reconcile] as ProbeKind[];

export function probeKind(type: string): ProbeKind | undefined {
  return PROBE_KINDS.find((k) => k.type === type);
}
