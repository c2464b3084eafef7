// Core config building blocks: addresses, deferred secrets, and one resolver rule everywhere.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatHostPort, ipPortProblem, parseIpPort, parseListenAddress } from '../src/address.ts';
import { resolveDeferred } from '../src/config/deferred.ts';
import type { ConfigError } from '../src/config/load.ts';
import { loadConfigText } from '../src/config/load.ts';
import { secretRef } from '../src/config/schema-helpers.ts';
import { Secret } from '../src/secret.ts';
import { PROBE_KINDS } from '../probes/registry.ts';

describe('addresses', () => {
  it('parses and formats IP:PORT with IPv6 in brackets, both ways', () => {
    for (const [text, hp] of [
      ['127.0.0.53:53', { host: '127.0.0.53', port: 53 }],
      ['[::1]:5353', { host: '::1', port: 5353 }],
      ['[2001:db8::53]:53', { host: '2001:db8::53', port: 53 }],
    ] as const) {
      expect(parseIpPort(text)).toEqual(hp);
      expect(formatHostPort(hp.host, hp.port)).toBe(text);
    }
    expect(parseIpPort('::1', 53)).toEqual({ host: '::1', port: 53 });
    expect(() => parseIpPort('::1')).toThrow(/has no port/);
    expect(() => parseIpPort('dns.example.com:53')).toThrow(/host names are not accepted/);
    expect(ipPortProblem('127.0.0.1:0')).toMatch(/port 0 is out of range/);
    expect(parseListenAddress(':9877')).toEqual({ host: '0.0.0.0', port: 9877 });
  });

  it('validates a resolver with the same words in global, synthetic and dns_drift', () => {
    const messageFor = (yaml: string) => {
      try {
        loadConfigText(yaml, { kinds: PROBE_KINDS, file: 'r.yaml', env: { WEBHOOK_SECRET: 'whsec-test' } });
      } catch (e) {
        return (e as ConfigError).issues.find((i) => i.path.endsWith('resolver'))?.message;
      }
      return undefined;
    };
    const bad = 'dns.example.com:53';
    const global = messageFor(`global:\n  resolver: ${bad}\nprobes: []\n`);
    const synthetic = messageFor(
      `probes:\n  - name: s\n    type: synthetic\n    targets: [https://h.example/x]\n    signing: { scheme: btcpay, secret: { env: WEBHOOK_SECRET } }\n    resolver: ${bad}\n`,
    );
    const dns = messageFor(`probes:\n  - name: d\n    type: dns_drift\n    hosts: [h.example]\n    resolver: ${bad}\n`);
    expect(global).toMatch(/host names are not accepted here.*\(or "system" for getaddrinfo\)/);
    expect(synthetic).toBe(global);
    expect(dns).toBe(global);
  });
});

describe('secrets resolve after parsing, with the environment of each load', () => {
  it('parsing alone reads nothing; resolving reads the reference with the given environment', () => {
    const parsed = secretRef().parse({ env: 'HW_TEST_SECRET' });
    expect(parsed).not.toBeInstanceOf(Secret);
    const a = resolveDeferred({ s: parsed }, { env: { HW_TEST_SECRET: 'first-value' }, baseDir: '/' });
    expect(a.s).toBeInstanceOf(Secret);
    expect(a.s.reveal()).toBe('first-value');
    const issues: string[] = [];
    resolveDeferred({ k: [secretRef().parse({ env: 'HW_TEST_SECRET' })] }, { env: {}, baseDir: '/' }, (path, m) => issues.push(`${path.join('.')}: ${m}`));
    expect(issues).toEqual(['k.0: secret reference env:HW_TEST_SECRET is not set (environment variable HW_TEST_SECRET is missing or empty)']);
  });

  it('two loads with different environments and folders each see their own secret', () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'hw-sec-a-')), mkdtempSync(join(tmpdir(), 'hw-sec-b-'))];
    dirs.forEach((d, i) => writeFileSync(join(d, 'key'), `file-secret-${i}\n`));
    const yaml = `sources:
  a: { type: btcpay, url: https://b.example, apiKey: { env: KEY }, storeId: s }
  b: { type: btcpay, url: https://b.example, apiKey: { file: key }, storeId: s }
probes: []
`;
    const loads = dirs.map((d, i) => loadConfigText(yaml, { kinds: PROBE_KINDS, file: join(d, 'probes.yaml'), env: { KEY: `env-secret-${i}` } }));
    loads.forEach((c, i) => {
      const [a, b] = [c.sources.a, c.sources.b];
      expect(a?.type === 'btcpay' && a.apiKey.reveal()).toBe(`env-secret-${i}`);
      expect(b?.type === 'btcpay' && b.apiKey.reveal()).toBe(`file-secret-${i}`);
      expect(c.secrets).toHaveLength(2);
    });
  });
});
