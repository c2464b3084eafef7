// A target that answers a webhook with a redirect is a failure of its own: the end-to-end request "succeeds" for a
// client that follows redirects, but BTCPay would lose the body (src/btcpay/redirects.ts).
import type { HttpResult } from '../../src/clients/http/index.ts';
import { clearRedirect, isRedirect, noteRedirect, redirectConsequence, urlKey } from '../../src/btcpay/redirects.ts';

export function redirectFailure(target: string, res: HttpResult, nowMs: number): { failureClass: 'redirect'; message: string } | undefined {
  const loc = res.headers?.location;
  if (!isRedirect(res.status) || typeof loc !== 'string') {
    if (res.ok) clearRedirect(target);
    return undefined;
  }
  const location = new URL(loc, target).href;
  noteRedirect(target, res.status!, location, nowMs);
  const message = `${urlKey(target)} answered HTTP ${res.status} redirecting to ${urlKey(location)}: ${redirectConsequence(res.status!)}`;
  return { failureClass: 'redirect', message };
}
