// One rule for credentials in URLs: a configured URL carrying them is refused with file, line and a
// pointer to secret references; a URL from upstream (BTCPay's webhook list, error text) is shown
// without userinfo, query or fragment.
import { describe, expect, it, afterEach } from 'vitest';
import { loadConfigText, ConfigError } from '../src/config/load.ts';
import { PROBE_KINDS } from '../probes/registry.ts';
import { redactUrl, redactUrlsIn, urlCredentialProblem } from '../src/redact-url.ts';
import { deliveryRate } from '../probes/delivery-rate/index.ts';
import { httpRequest } from '../src/clients/http/index.ts';
import { probeEntry, startHarness, type Harness } from './helpers/btcpay-harness.ts';
import { synthetic as syntheticKind } from '../probes/synthetic/index.ts';
import { startReceiver } from '../src/sim/receiver.ts';
import { makeTestContext } from './helpers/context.ts';

const load = (yaml: string) =>
  loadConfigText(yaml, {
    kinds: PROBE_KINDS,
    file: '/etc/hookwatch/probes.yaml',
    displayName: 'probes.yaml',
    env: { S: 'whsec-signing-secret-1234' },
  });
const errorOf = (yaml: string) => {
  try {
    load(yaml);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return '';
};
/** One direct-mode synthetic probe, with extra YAML lines for the probe. */
const syn = (target: string, extra = '') =>
  `probes:\n  - name: s\n    type: synthetic\n    targets: ["${target}"]\n    signing: { scheme: btcpay, secret: { env: S } }\n${extra}`;
const synthetic = (target: string) =>
  `probes:\n  - name: s\n    type: synthetic\n    targets:\n      - "${target}"\n    signing: { scheme: btcpay, secret: { env: S } }\n`;

describe('credentials in configured URLs are refused', () => {
  it('userinfo in a synthetic target: file, line, key path, a pointer to secret references, never the password', () => {
    const msg = errorOf(synthetic('https://hook:Pa55word-xyz@hooks.example.com/btcpay?x=1'));
    expect(msg).toMatch(/^probes\.yaml:5:\d+: probes\[0\]\.targets\[0\]: URL https:\/\/hooks\.example\.com\/btcpay carries credentials/);
    expect(msg).toContain('{ file: PATH }');
    expect(msg).not.toContain('Pa55word-xyz');
  });

  it('a token in the query is refused, an ordinary query parameter is not', () => {
    const msg = errorOf(synthetic('https://hooks.example.com/btcpay?Access_Token=tok-123456&v=2'));
    expect(msg).toContain('carries a credential in its query (Access_Token=…)');
    expect(msg).not.toContain('tok-123456');
    expect(errorOf(synthetic('https://hooks.example.com/btcpay?v=2&store=main'))).toBe('');
  });

  it('the same rule holds for confirm.url, http probes and sources', () => {
    const cases = [
      syn('https://h.example.com/w', '    confirm: { url: "https://h.example.com/r/{deliveryId}?apikey=k1234" }\n'),
      'probes:\n  - { name: h, type: http, url: "http://u:p@h.example.com/" }\n',
      'sources:\n  shop: { type: btcpay, url: "https://u:p@btcpay.example.com", apiKey: { env: S }, storeId: s }\nprobes: []\n',
      'sources:\n  rec: { type: http-json, url: "https://i.example.com/p?since={since}&api_key=k1" }\nprobes: []\n',
    ];
    for (const c of cases) expect(errorOf(c)).toMatch(/carries (credentials|a credential)/);
  });

  it('synthetic targets take credential headers from secret references instead', () => {
    const c = load(syn('https://h.example.com/w', '    headers: { x-receiver-token: { env: S }, accept: application/json }\n'));
    expect(String((c.probes[0]!.headers as Record<string, unknown>)['x-receiver-token'])).toBe('<secret env:S>');
    expect(errorOf(syn('https://h.example.com/w', '    headers: { authorization: "Bearer inline" }\n'))).toContain('header authorization carries a credential');
  });
});

describe('synthetic headers', () => {
  it('are sent with every request, the secret ones revealed only on the wire', async () => {
    const rx = await startReceiver({ scheme: 'btcpay', secret: 'whsec-signing-secret-1234', host: '127.0.0.1' });
    try {
      const c = load(syn(rx.webhookUrl, '    headers: { x-receiver-token: { env: S } }\n'));
      const r = await syntheticKind.run(c.probes[0] as never, makeTestContext({ config: c }));
      expect(r.ok).toBe(true);
      expect(rx.received[0]!.headers['x-receiver-token']).toBe('whsec-signing-secret-1234');
    } finally {
      await rx.stop();
    }
  });
});

describe('URLs from upstream are shown without credentials', () => {
  it('redactUrl keeps scheme, host, port and path only', () => {
    expect(redactUrl('https://u:p@Hooks.Example.com:8443/a/b?token=t#frag')).toBe('https://hooks.example.com:8443/a/b');
    expect(redactUrl('not a url')).toBe('<invalid url>');
    expect(redactUrlsIn('POST https://u:p@h.example.com/x?sig=1 failed: refused')).toBe('POST https://h.example.com/x failed: refused');
    expect(urlCredentialProblem('https://h.example.com/x?page=2')).toBeUndefined();
  });

  it('the http client never repeats a query in its failure text', async () => {
    const r = await httpRequest({ url: 'http://127.0.0.1:9/hook?sig=upstream-signature-123', method: 'POST', connectTimeoutMs: 500 });
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).not.toContain('upstream-signature-123');
  });

  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('delivery_rate details show a BTCPay webhook URL without its token', async () => {
    h = await startHarness({ webhook: { url: 'http://127.0.0.1:9/btcpay?token=webhook-token-abcdef' } });
    const probe = probeEntry('delivery_rate', deliveryRate.schema.parse({ source: 'btcpay' }));
    const r = await deliveryRate.run(probe, h.ctx());
    expect(JSON.stringify(r)).not.toContain('webhook-token-abcdef');
    expect(JSON.stringify(r.details)).toContain('http://127.0.0.1:9/btcpay');
  });
});
