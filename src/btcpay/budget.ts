// The request budget of a BTCPay source: at most N API requests in any 60 s, shared by every probe (and every
// store) that uses the source, so an agent watching a thousand stores never hammers BTCPay.
//
// A sliding window of the last N request times rather than a token bucket: a full bucket plus its refill lets
// 2N requests through in one minute, while "never more than N per minute" is what an operator sizes BTCPay for.
// When the budget is spent the request is not sent and fails at once with a BtcpayError of kind 'budget', so
// the probe says so in its reason instead of silently lagging behind.
import { createHash } from 'node:crypto';
import { BtcpayError } from '../clients/btcpay/client.ts';
import type { SourceConfig } from '../probe/types.ts';

type BtcpaySource = Extract<SourceConfig, { type: 'btcpay' }>;

/** Default budget of a source watching several stores; a single-store source has none unless configured. */
export const DEFAULT_MULTI_STORE_BUDGET = 600;
const WINDOW_MS = 60_000;

export class RequestBudget {
  /** Start times of the most recent requests, a ring of `perMinute` slots. */
  readonly #times: Float64Array;
  #next = 0;
  #used = 0;
  /** Requests refused since the budget was created. */
  refused = 0;
  /** Requests let through since the budget was created. */
  granted = 0;

  constructor(
    readonly perMinute: number,
    readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(perMinute) || perMinute < 1) throw new RangeError('perMinute must be a positive integer');
    this.#times = new Float64Array(perMinute);
  }

  /** Take one request from the budget; false (and nothing taken) when N requests already started in the last minute. */
  tryTake(): boolean {
    const t = this.now();
    // The slot we would overwrite holds the oldest of the last N requests.
    if (this.#used === this.perMinute && t - this.#times[this.#next]! < WINDOW_MS) {
      this.refused++;
      return false;
    }
    this.#times[this.#next] = t;
    this.#next = (this.#next + 1) % this.perMinute;
    this.#used = Math.min(this.perMinute, this.#used + 1);
    this.granted++;
    return true;
  }

  /** Requests still allowed right now. */
  remaining(): number {
    const t = this.now();
    let inWindow = 0;
    for (let i = 0; i < this.#used; i++) if (t - this.#times[i]! < WINDOW_MS) inWindow++;
    return this.perMinute - inWindow;
  }

  /** A `beforeRequest` hook for BtcpayClient. */
  guard(sourceName: string): (what: string) => void {
    return (what) => {
      if (!this.tryTake()) {
        throw new BtcpayError(`${what}: request budget of source "${sourceName}" spent (${this.perMinute} requests per minute); not sent`, 'budget');
      }
    };
  }
}

const budgets = new Map<string, RequestBudget>();
/** Sources are few; the cap only guards against a config generator gone wild. */
const MAX_BUDGETS = 256;

/** Test and benchmark hook: the clock budgets created from now on use. */
let clock: () => number = Date.now;
export function setBudgetClock(now: () => number): void {
  clock = now;
  budgets.clear();
}

function keyOf(s: BtcpaySource, perMinute: number): string {
  return `${s.name}|${s.url}|${perMinute}|${createHash('sha256').update(s.apiKey.reveal()).digest('hex')}`;
}

/** The budget in force for a source (shared by every probe using it), or undefined when it has none. */
export function budgetFor(s: BtcpaySource): RequestBudget | undefined {
  const perMinute = s.requestBudget ?? (s.stores ? DEFAULT_MULTI_STORE_BUDGET : undefined);
  if (perMinute === undefined) return undefined;
  const k = keyOf(s, perMinute);
  let b = budgets.get(k);
  if (!b) {
    if (budgets.size >= MAX_BUDGETS) budgets.clear();
    budgets.set(k, (b = new RequestBudget(perMinute, clock)));
  }
  return b;
}

export const BUDGET_CAUSE =
  "The source's request budget (requestBudget, requests per minute shared by every probe using it) is spent: the remaining stores or " +
  'webhooks are polled on later runs. Raise requestBudget if BTCPay can take it, lengthen the probe intervals, or raise maxStaleness ' +
  'so quiet webhooks cost less.';
