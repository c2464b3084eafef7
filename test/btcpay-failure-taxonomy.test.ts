// One taxonomy for BTCPay's delivery error texts: every text BTCPay 2.4.1 stores on Linux (the .NET exception
// message, BTCPayServer/Plugins/Webhooks/WebhookSender.cs SendDelivery), the texts of other platforms and older
// servers the tests have met, and `HTTP Error Code N`. delivery_rate's reason and the synthetic probe's class
// come from the same table, so they cannot disagree.
import { describe, expect, it } from 'vitest';
import { failureReason, FAILURE_REASONS, SYNTHETIC_CLASS, type FailureReason } from '../src/btcpay/failures.ts';
import { classifyDelivery } from '../probes/synthetic/btcpay.ts';

type Row = [status: 'Failed' | 'HttpError', httpCode: number | null, text: string, reason: FailureReason];
const TABLE: Row[] = [
  // .NET on Linux (SocketsHttpHandler: "<socket error> (host:port)")
  ['Failed', null, 'Connection refused (hooks.example.com:443)', 'refused'],
  ['Failed', null, 'Name or service not known (hooks.example.com:443)', 'dns'],
  ['Failed', null, 'Resource temporarily unavailable (hooks.example.com:443)', 'dns'],
  ['Failed', null, 'No route to host (hooks.example.com:443)', 'unreachable'],
  ['Failed', null, 'Network is unreachable (hooks.example.com:443)', 'unreachable'],
  ['Failed', null, 'Connection reset by peer', 'reset'],
  ['Failed', null, 'The SSL connection could not be established, see inner exception.', 'tls'],
  ['Failed', null, 'The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.', 'timeout'],
  // other platforms, older servers, Node-side texts
  ['Failed', null, 'No such host is known. (x.example:443)', 'dns'],
  ['Failed', null, 'Name does not resolve (x.example:443)', 'dns'],
  ['Failed', null, 'getaddrinfo EAI_AGAIN x.example', 'dns'],
  ['Failed', null, 'getaddrinfo ENOTFOUND x.example', 'dns'],
  ['Failed', null, 'Temporary failure in name resolution (x.example:443)', 'dns'],
  ['Failed', null, 'Connection timed out (x.example:443)', 'timeout'],
  ['Failed', null, 'connect ECONNREFUSED 127.0.0.1:9', 'refused'],
  ['Failed', null, 'The response ended prematurely.', 'reset'],
  ['Failed', null, 'An error occurred while sending the request.', 'other'],
  ['Failed', null, 'something else', 'other'],
  // HTTP answers
  ['HttpError', 401, 'HTTP Error Code 401', 'http_4xx'],
  ['HttpError', 404, 'HTTP Error Code 404', 'http_4xx'],
  ['HttpError', 408, 'HTTP Error Code 408', 'http_4xx'],
  ['HttpError', 500, 'HTTP Error Code 500', 'http_5xx'],
  ['HttpError', 503, 'HTTP Error Code 503', 'http_5xx'],
  ['HttpError', null, 'HTTP Error Code 502', 'http_5xx'],
];

describe('BTCPay delivery failure taxonomy', () => {
  it.each(TABLE)('%s %s %j -> %s', (status, httpCode, text, reason) => {
    expect(failureReason({ status, httpCode, errorMessage: text })).toBe(reason);
    // The synthetic probe's btcpay mode classifies the same row through the same table.
    expect(classifyDelivery({ id: 'd', timestamp: 1, status, httpCode, errorMessage: text })).toBe(SYNTHETIC_CLASS[reason]);
  });

  it('covers every reason, and the metric label set is exactly the reasons', () => {
    expect(new Set(TABLE.map((r) => r[3]))).toEqual(new Set(FAILURE_REASONS));
    expect(Object.keys(SYNTHETIC_CLASS).sort()).toEqual([...FAILURE_REASONS].sort());
  });
});
