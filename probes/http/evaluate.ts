// The http kind's verdict: pure, so the pass/fail rule is tested without a server.

export type HttpObservation = {
  status: number;
  seconds: number;
};

/** Status codes that pass: the configured one(s), else any 2xx. */
export function expectedStatuses(expectStatus: number | number[] | undefined): number[] | undefined {
  return expectStatus === undefined ? undefined : ([] as number[]).concat(expectStatus);
}

export function evaluate(seen: HttpObservation, expectStatus: number | number[] | undefined): { ok: boolean; reason?: string; details: HttpObservation } {
  const want = expectedStatuses(expectStatus);
  const ok = want ? want.includes(seen.status) : seen.status >= 200 && seen.status < 300;
  const details = { status: seen.status, seconds: seen.seconds };
  return ok ? { ok, details } : { ok, reason: `HTTP ${seen.status}, expected ${want ? want.join(' or ') : '2xx'}`, details };
}
