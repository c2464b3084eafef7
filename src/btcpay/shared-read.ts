// Identical reads of one store by several probes within a few seconds share one answer: N paid_latency probes over
// the same store list its paid invoices once per few seconds, not N times (the delivery log is shared the same way,
// shared-log.ts). A probe never gets an answer older than the one it used last, so its own consecutive polls always
// read BTCPay anew; a failed read is never shared; answers are held only until replaced or SHARE_KEEP_SEC old.

/** How old (s) another probe's answer may be and still be used. */
export const DEFAULT_SHARE_SEC = 5;
const SHARE_KEEP_SEC = 10;
const MAX_ANSWERS = 20_000;

/** What a probe remembers to never go back in time: the number of the last answer it used. */
export interface ShareTicket {
  last?: number;
}

interface Answer {
  no: number;
  atSec: number;
  /** How far back the answer reaches (unix s): it serves reads that need no more than that. */
  fromSec: number;
  value: unknown;
}

const answers = new Map<string, Answer>();
let answered = 0;

/**
 * `read()` unless an answer to the same `key` that reaches back to `fromSec`, at most `shareSec` old and newer than
 * the ticket's last, exists. Callers filter a shared answer down to their own `fromSec`.
 */
export async function sharedRead<T>(
  key: string,
  ticket: ShareTicket,
  o: { nowSec: number; fromSec: number; shareSec?: number },
  read: () => Promise<T>,
): Promise<{ value: T; shared: boolean }> {
  const a = answers.get(key);
  if (a && a.no > (ticket.last ?? 0) && a.fromSec <= o.fromSec && o.nowSec - a.atSec <= (o.shareSec ?? DEFAULT_SHARE_SEC) && a.atSec <= o.nowSec) {
    ticket.last = a.no;
    return { value: a.value as T, shared: true };
  }
  const value = await read();
  const no = ++answered;
  ticket.last = no;
  for (const [k, x] of answers) if (o.nowSec - x.atSec > SHARE_KEEP_SEC) answers.delete(k);
  answers.delete(key);
  while (answers.size >= MAX_ANSWERS) answers.delete(answers.keys().next().value!);
  answers.set(key, { no, atSec: o.nowSec, fromSec: o.fromSec, value });
  return { value, shared: false };
}

/** Test hook: forget every shared answer. */
export function forgetSharedReads(): void {
  answers.clear();
}
