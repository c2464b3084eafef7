// What one synthetic run found per target, shared by both modes (direct.ts/index.ts and btcpay.ts) so
// neither mode imports the other's module.
import { FAILURE_CLASSES } from '../../src/clients/http/index.ts';
import type { SecurityOutcome } from './direct.ts';

/** The transport classes plus the ones that only an end-to-end check can see. */
export const SYNTHETIC_FAILURE_CLASSES = [...FAILURE_CLASSES, 'redirect', 'not_confirmed', 'not_delivered'] as const;
export type SyntheticFailureClass = (typeof SYNTHETIC_FAILURE_CLASSES)[number];

export interface TargetOutcome {
  target: string;
  ok: boolean;
  phases: Partial<Record<'resolve' | 'connect' | 'tls' | 'response' | 'confirm' | 'delivery', number>>;
  address?: string;
  failureClass?: SyntheticFailureClass;
  message?: string;
  security?: SecurityOutcome[];
  details: Record<string, unknown>;
}
