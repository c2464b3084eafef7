// Webhook URLs seen answering with a redirect. BTCPay's webhook HttpClients follow redirects like any .NET
// HttpClient (WebhooksPlugin.cs keeps the default AllowAutoRedirect): a 301/302/303 turns the POST into a GET
// without body or signature and the row records the final status, so a redirecting URL can be logged HttpSuccess
// while no webhook ever arrives. The synthetic probe notes what it saw here; delivery_rate flags webhooks whose
// URL was seen redirecting. Bounded: at most MAX entries, each forgotten after a day.

export interface RedirectNote {
  status: number;
  /** The Location, without userinfo and query (it came from upstream). */
  location: string;
  seenMs: number;
}

const MAX = 1000;
const TTL_MS = 24 * 3600_000;
const notes = new Map<string, RedirectNote>();

/** The form URLs are compared in: lower-case scheme and host, default port dropped, no trailing slash, no query. */
export function urlKey(u: string): string {
  try {
    const url = new URL(u);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return u;
  }
}

export function isRedirect(status: number | undefined): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** What BTCPay would do with a webhook to a URL that answers `status`. */
export function redirectConsequence(status: number): string {
  return status === 307 || status === 308
    ? 'BTCPay follows it and re-posts the body to the new location, so deliveries depend on a URL nobody configured'
    : 'BTCPay follows it like any .NET client: the POST becomes a GET without body or signature, the webhook is lost, ' +
        'and the delivery is still logged with the final status (HttpSuccess if that GET answers 2xx)';
}

export function noteRedirect(url: string, status: number, location: string, nowMs: number): void {
  if (notes.size >= MAX && !notes.has(urlKey(url))) notes.delete(notes.keys().next().value!);
  notes.set(urlKey(url), { status, location: urlKey(location), seenMs: nowMs });
}

export function clearRedirect(url: string): void {
  notes.delete(urlKey(url));
}

export function redirectOf(url: string, nowMs: number): RedirectNote | undefined {
  const n = notes.get(urlKey(url));
  if (n && nowMs - n.seenMs > TTL_MS) {
    notes.delete(urlKey(url));
    return undefined;
  }
  return n;
}
