// One finished probe run, as the scheduler records it and the history, /status and `once` read it.
import type { ProbeResult } from '../probe/types.ts';

export interface RunRecord {
  runId: string;
  startedAt: number;
  finishedAt: number;
  durationSeconds: number;
  result: ProbeResult;
  outcome: 'success' | 'failure' | 'timeout' | 'error';
}
