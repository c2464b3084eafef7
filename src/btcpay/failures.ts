// One taxonomy for why a BTCPay webhook delivery failed, shared by delivery_rate, paid_latency, the synthetic
// probe's btcpay mode and `redeliver`.
//
// A row's errorMessage is the message of the .NET exception verbatim (BTCPay: BTCPayServer/Plugins/Webhooks/
// WebhookSender.cs, SendDelivery: `ErrorMessage = ex.Message`), or `HTTP Error Code <n>` for a non-2xx answer.
// On Linux the connect failures read "<socket error text> (host:port)": "Connection refused", "Name or service not
// known" (NXDOMAIN), "Resource temporarily unavailable" (EAI_AGAIN: the resolver timed out or answered SERVFAIL),
// "No route to host", "Network is unreachable"; a dropped connection reads "Connection reset by peer"; TLS failures
// "The SSL connection could not be established, see inner exception."; and the 100 s attempt timeout "The request
// was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing." Texts from other platforms and
// older servers (musl's "Name does not resolve", Node's getaddrinfo codes) are recognised too.

export const FAILURE_REASONS = ['dns', 'timeout', 'refused', 'unreachable', 'reset', 'tls', 'http_4xx', 'http_5xx', 'other'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export interface FailedRow {
  status: 'Failed' | 'HttpError' | 'HttpSuccess';
  httpCode?: number | null;
  errorMessage?: string | null;
}

// Order matters: "Resource temporarily unavailable" must be dns before anything reads it as a timeout.
const TEXT_RULES: Array<[FailureReason, RegExp]> = [
  [
    'dns',
    new RegExp(
      [
        'name or service not known',
        'resource temporarily unavailable',
        'temporary failure in name resolution',
        'no such host',
        'nodename nor servname',
        'name does not resolve',
        'no address associated with hostname',
        'ENOTFOUND',
        'EAI_AGAIN',
        'EAI_NONAME',
        'name resolution',
      ].join('|'),
      'i',
    ),
  ],
  ['timeout', /HttpClient\.Timeout|timed out|timeout|canceled|cancelled|ETIMEDOUT/i],
  ['refused', /connection refused|ECONNREFUSED/i],
  ['unreachable', /no route to host|network is unreachable|host is unreachable|EHOSTUNREACH|ENETUNREACH/i],
  ['reset', /connection reset|reset by peer|ECONNRESET|response ended prematurely|broken pipe|EPIPE/i],
  ['tls', /\bssl\b|\btls\b|certificate/i],
];

/** Why a delivery row failed, from its status, httpCode and .NET error text. */
export function failureReason(d: FailedRow): FailureReason {
  const code = d.httpCode ?? Number(/^HTTP Error Code (\d{3})$/.exec(d.errorMessage ?? '')?.[1] ?? NaN);
  if (d.status === 'HttpError' || Number.isFinite(code)) {
    if (code >= 400 && code < 500) return 'http_4xx';
    if (code >= 500 && code < 600) return 'http_5xx';
    return 'other';
  }
  const m = d.errorMessage ?? '';
  for (const [reason, re] of TEXT_RULES) if (re.test(m)) return reason;
  return 'other';
}

/** What each reason usually means and where to look. */
export const FAILURE_CAUSES: Record<FailureReason, string> = {
  dns:
    "BTCPay cannot resolve the receiver's host name (NXDOMAIN, or its resolver timed out or failed: EAI_AGAIN): " +
    'check the DNS record and the resolver BTCPay uses (see the dns_drift probe).',
  timeout:
    "The receiver does not answer within 100 s (BTCPay's attempt timeout): it is overloaded, hung, or a firewall drops packets. " +
    "Each such attempt holds the webhook's queue for 100 s.",
  refused: 'Nothing accepts connections at the receiver address: the service is down or the host/port (or DNS answer) is stale.',
  unreachable:
    'BTCPay has no route to the receiver (no route to host / network unreachable): a routing, firewall or VPN problem between them, ' +
    'or DNS points at an address that no longer exists.',
  reset: 'The receiver (or a proxy in front of it) drops the connection mid-request: check its logs and any load balancer or proxy limits.',
  tls: 'TLS fails between BTCPay and the receiver: expired or mismatched certificate, or plain HTTP on an HTTPS port.',
  http_4xx:
    'The receiver rejects the webhooks (4xx): wrong path, auth in front of it, or a signature-secret mismatch. ' +
    'BTCPay does not retry these (except 408 and 429).',
  http_5xx: 'The receiver fails while handling webhooks (5xx): check its logs and dependencies.',
  other: 'Deliveries fail for an unclassified reason: read errorMessage in details.',
};

/** The synthetic probe's transport class for a reason (its classes name where a direct send failed). */
type SyntheticClass = 'dns_error' | 'connect_timeout' | 'connect_refused' | 'tls_error' | 'response_timeout' | 'http_status' | 'not_delivered';
export const SYNTHETIC_CLASS: Record<FailureReason, SyntheticClass> = {
  dns: 'dns_error',
  timeout: 'response_timeout',
  refused: 'connect_refused',
  unreachable: 'connect_timeout',
  reset: 'response_timeout',
  tls: 'tls_error',
  http_4xx: 'http_status',
  http_5xx: 'http_status',
  other: 'not_delivered',
};
