// Malformed configs: each must be refused with the exact key path and line, and no message may carry a secret value.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, loadConfigText } from '../src/config/load.ts';
import { PROBE_KINDS } from '../probes/registry.ts';

const SECRET = 'sk_live_9f8e7d6c5b4a';
const dir = mkdtempSync(join(tmpdir(), 'hw-cfg-'));
const keyFile = join(dir, 'api-key');
writeFileSync(keyFile, SECRET + '\n');
const env = { BTCPAY_KEY: SECRET, WEBHOOK_SECRET: SECRET };

const SRC = `sources:
  btcpay:
    type: btcpay
    url: https://btcpay.example.com
    apiKey: { env: BTCPAY_KEY }
    storeId: store1
`;

const RECORDS = `  internal:
    type: http-json
    url: https://internal.example.com/payments
`;

interface Case {
  name: string;
  yaml: string;
  path: string;
  line: number;
  message: RegExp;
}

const cases: Case[] = [
  { name: 'YAML syntax: bad indentation', yaml: 'probes:\n  - name: a\n   type: http\n', path: '', line: 3, message: /YAML syntax error/ },
  { name: 'YAML syntax: unclosed flow map', yaml: 'global: { interval: 30s\nprobes: []\n', path: '', line: 2, message: /YAML syntax error/ },
  { name: 'YAML syntax: tab indentation', yaml: 'probes:\n\t- name: a\n', path: '', line: 2, message: /YAML syntax error/ },
  { name: 'duplicate YAML key', yaml: 'probes: []\nprobes: []\n', path: '', line: 2, message: /YAML syntax error.*unique/i },
  { name: 'top level is a list', yaml: '- a\n- b\n', path: '', line: 1, message: /expected a mapping/ },
  { name: 'unknown top-level key (typo)', yaml: 'probes: []\nsoruces: {}\n', path: 'soruces', line: 2, message: /did you mean "sources"/ },
  { name: 'probes missing', yaml: 'global: { interval: 30s }\n', path: 'probes', line: 1, message: /missing required key: probes/ },
  { name: 'probes not a list', yaml: 'probes:\n  name: a\n', path: 'probes', line: 2, message: /expected a list/ },
  { name: 'global typo', yaml: 'global:\n  intervall: 30s\nprobes: []\n', path: 'global.intervall', line: 2, message: /did you mean "interval"/ },
  {
    name: 'global bad duration',
    yaml: 'global:\n  interval: 30 seconds\nprobes: []\n',
    path: 'global.interval',
    line: 2,
    message: /invalid duration "30 seconds"/,
  },
  { name: 'global duration without unit', yaml: 'global:\n  timeout: 30\nprobes: []\n', path: 'global.timeout', line: 2, message: /duration/ },
  { name: 'global bad resolver', yaml: 'global:\n  resolver: localhost\nprobes: []\n', path: 'global.resolver', line: 2, message: /IP:PORT/ },
  { name: 'probe entry is a string', yaml: 'probes:\n  - just-a-string\n', path: 'probes[0]', line: 2, message: /expected a mapping/ },
  { name: 'probe type missing', yaml: 'probes:\n  - name: a\n    url: http://x/\n', path: 'probes[0].type', line: 2, message: /missing or invalid probe type/ },
  { name: 'unknown probe type (typo)', yaml: 'probes:\n  - name: a\n    type: htpp\n', path: 'probes[0].type', line: 3, message: /did you mean "http"/ },
  { name: 'probe name missing', yaml: 'probes:\n  - type: http\n    url: http://x/\n', path: 'probes[0].name', line: 2, message: /missing required key/ },
  {
    name: 'probe name with spaces',
    yaml: 'probes:\n  - name: my probe\n    type: http\n    url: http://x/\n',
    path: 'probes[0].name',
    line: 2,
    message: /probe name/,
  },
  {
    name: 'duplicate probe names',
    yaml: 'probes:\n  - name: a\n    type: http\n    url: http://x/\n  - name: a\n    type: http\n    url: http://y/\n',
    path: 'probes[1].name',
    line: 5,
    message: /duplicate probe name "a"/,
  },
  {
    name: 'probe key typo',
    yaml: 'probes:\n  - name: a\n    type: http\n    url: http://x/\n    intreval: 5s\n',
    path: 'probes[0].intreval',
    line: 5,
    message: /did you mean "interval"/,
  },
  {
    name: 'probe bad interval',
    yaml: 'probes:\n  - name: a\n    type: http\n    url: http://x/\n    interval: 5min\n',
    path: 'probes[0].interval',
    line: 5,
    message: /invalid duration "5min"/,
  },
  {
    name: 'probe interval wrong type',
    yaml: 'probes:\n  - name: a\n    type: http\n    url: http://x/\n    interval: [5s]\n',
    path: 'probes[0].interval',
    line: 5,
    message: /duration/,
  },
  {
    name: 'probe zero interval',
    yaml: 'probes:\n  - name: a\n    type: http\n    url: http://x/\n    interval: 0s\n',
    path: 'probes[0].interval',
    line: 5,
    message: /greater than 0/,
  },
  { name: 'http url not a URL', yaml: 'probes:\n  - name: a\n    type: http\n    url: not a url\n', path: 'probes[0].url', line: 4, message: /http\(s\) URL/ },
  {
    name: 'http expectStatus wrong type',
    yaml: 'probes:\n  - name: a\n    type: http\n    url: http://x/\n    expectStatus: "200"\n',
    path: 'probes[0].expectStatus',
    line: 5,
    message: /expected|Invalid/,
  },
  {
    name: 'http expectStatus out of range',
    yaml: 'probes:\n  - name: a\n    type: http\n    url: http://x/\n    expectStatus: 999\n',
    path: 'probes[0].expectStatus',
    line: 5,
    message: /./,
  },
  {
    name: 'thresholds on a kind without any',
    yaml: 'probes:\n  - name: a\n    type: http\n    url: http://x/\n    thresholds:\n      max: 1\n',
    path: 'probes[0].thresholds.max',
    line: 6,
    message: /unknown key "max"/,
  },
  { name: 'sources not a mapping', yaml: 'sources: [a]\nprobes: []\n', path: 'sources', line: 1, message: /mapping/ },
  {
    name: 'source with unknown type',
    yaml: 'sources:\n  s:\n    type: mysql\n    url: x\nprobes: []\n',
    path: 'sources.s.type',
    line: 3,
    message: /btcpay, http-json or postgres/,
  },
  {
    name: 'btcpay source key typo',
    yaml: SRC.replace('storeId', 'storId') + 'probes: []\n',
    path: 'sources.btcpay.storId',
    line: 6,
    message: /did you mean "storeId"/,
  },
  {
    name: 'btcpay source missing storeId',
    yaml: SRC.replace('    storeId: store1\n', '') + 'probes: []\n',
    path: 'sources.btcpay.storeId',
    line: 3,
    message: /missing required key/,
  },
  {
    name: 'btcpay url not absolute',
    yaml: SRC.replace('https://btcpay.example.com', '/btcpay') + 'probes: []\n',
    path: 'sources.btcpay.url',
    line: 4,
    message: /absolute http\(s\) URL/,
  },
  {
    name: 'inline secret refused',
    yaml: SRC.replace('{ env: BTCPAY_KEY }', SECRET) + 'probes: []\n',
    path: 'sources.btcpay.apiKey',
    line: 5,
    message: /secrets must be references/,
  },
  {
    name: 'secret env missing',
    yaml: SRC.replace('BTCPAY_KEY', 'NOT_SET_ANYWHERE') + 'probes: []\n',
    path: 'sources.btcpay.apiKey',
    line: 5,
    message: /env:NOT_SET_ANYWHERE is not set/,
  },
  {
    name: 'secret file missing',
    yaml: SRC.replace('{ env: BTCPAY_KEY }', '{ file: /nonexistent/key }') + 'probes: []\n',
    path: 'sources.btcpay.apiKey',
    line: 5,
    message: /file:\/nonexistent\/key cannot be read \(ENOENT\)/,
  },
  {
    name: 'secret ref with both keys',
    yaml: SRC.replace('{ env: BTCPAY_KEY }', `{ env: BTCPAY_KEY, file: ${keyFile} }`) + 'probes: []\n',
    path: 'sources.btcpay.apiKey',
    line: 5,
    message: /secret reference/,
  },
  {
    name: 'postgres port out of range',
    yaml: 'sources:\n  db:\n    type: postgres\n    database: d\n    user: u\n    port: 70000\n    query: select 1\nprobes: []\n',
    path: 'sources.db.port',
    line: 6,
    message: /./,
  },
  {
    name: 'probe refers to unknown source',
    yaml: SRC + 'probes:\n  - name: a\n    type: delivery_rate\n    source: btcpy\n',
    path: 'probes[0].source',
    line: 10,
    message: /unknown source "btcpy" \(did you mean "btcpay"\?\)/,
  },
  {
    name: 'source of the wrong type (declared by the kind)',
    yaml: SRC + RECORDS + 'probes:\n  - name: a\n    type: reconcile\n    source: internal\n    records: btcpay\n',
    path: 'probes[0].source',
    line: 13,
    message: /source "internal" is of type http-json; source needs a btcpay source/,
  },
  {
    name: 'records source of the wrong type',
    yaml: SRC + RECORDS + 'probes:\n  - name: a\n    type: reconcile\n    source: btcpay\n    records: btcpay\n',
    path: 'probes[0].records',
    line: 14,
    message: /source "btcpay" is of type btcpay; records needs a http-json or postgres source/,
  },
  {
    name: 'synthetic btcpay mode names an unknown source',
    yaml: SRC + 'probes:\n  - name: s\n    type: synthetic\n    mode: btcpay\n    source: nope\n',
    path: 'probes[0].source',
    line: 11,
    message: /unknown source "nope"; defined sources: btcpay/,
  },
];

describe('malformed configs', () => {
  it('has at least 25 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  for (const c of cases) {
    it(c.name, () => {
      let error: unknown;
      try {
        loadConfigText(c.yaml, { kinds: PROBE_KINDS, file: '/etc/hookwatch/probes.yaml', displayName: 'probes.yaml', env });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const issues = (error as ConfigError).issues;
      const hit = issues.find((i) => i.path === c.path && i.line === c.line);
      expect(hit, `issues were:\n${(error as Error).message}`).toBeDefined();
      expect(hit!.message).toMatch(c.message);
      expect(hit!.file).toBe('probes.yaml');
      expect(hit!.column).toBeGreaterThan(0);
      expect((error as Error).message).toContain(`probes.yaml:${c.line}:`);
      expect((error as Error).message).not.toContain(SECRET);
    });
  }

  it('a valid file loads, resolves secrets by reference and never prints them', () => {
    const yaml =
      SRC.replace('{ env: BTCPAY_KEY }', `{ file: ${keyFile} }`) + 'probes:\n  - name: a\n    type: http\n    url: http://127.0.0.1:1/\n    interval: 1m30s\n';
    const c = loadConfigText(yaml, { kinds: PROBE_KINDS, file: '/x/probes.yaml', env });
    const src = c.sources.btcpay!;
    expect(src.type).toBe('btcpay');
    if (src.type === 'btcpay') expect(src.apiKey.reveal()).toBe(SECRET);
    expect(c.probes[0]!.intervalMs).toBe(90_000);
    expect(JSON.stringify(c)).not.toContain(SECRET);
    expect(String(c.secrets[0])).toBe(`<secret file:${keyFile}>`);
  });

  it('a missing config file is a clear error', () => {
    expect(() => loadConfigFile(join(dir, 'nope.yaml'), { kinds: PROBE_KINDS })).toThrow(/cannot read config file \(ENOENT\)/);
  });
});

describe('config: credentials, resolver names and run timeouts', () => {
  it('refuses an inline credential header but allows plain headers', () => {
    const base = `sources:\n  internal:\n    type: http-json\n    url: http://127.0.0.1:1/p\n    headers:\n`;
    expect(() => loadConfigText(base + `      Authorization: "Bearer ${SECRET}"\nprobes: []\n`, { kinds: PROBE_KINDS, file: 'h.yaml', env })).toThrow(
      /header Authorization carries a credential/,
    );
    try {
      loadConfigText(base + `      X-Api-Token: "${SECRET}"\nprobes: []\n`, { kinds: PROBE_KINDS, file: 'h.yaml', env });
    } catch (e) {
      expect((e as Error).message).toContain('h.yaml:6:');
      expect((e as Error).message).not.toContain(SECRET);
    }
    const ok = loadConfigText(base + `      Accept: application/json\n      Authorization: { env: BTCPAY_KEY }\nprobes: []\n`, {
      kinds: PROBE_KINDS,
      file: 'h.yaml',
      env,
    });
    expect(ok.sources.internal!.type).toBe('http-json');
  });

  it('refuses a resolver given as a name', () => {
    expect(() => loadConfigText('global:\n  resolver: dns.example.com:53\nprobes: []\n', { kinds: PROBE_KINDS, file: 'r.yaml' })).toThrow(
      /r.yaml:2:13: global.resolver: .*IP:PORT/,
    );
    expect(loadConfigText('global:\n  resolver: "[::1]:53"\nprobes: []\n', { kinds: PROBE_KINDS, file: 'r.yaml' }).global.resolver).toBe('[::1]:53');
  });

  it('gives synthetic probes a run timeout that outlasts their own deadlines, and refuses a shorter one', () => {
    const syn = (extra: string) =>
      `probes:\n  - name: s\n    type: synthetic\n    targets: [http://127.0.0.1:1/w]\n    signing: { scheme: btcpay, secret: { env: WEBHOOK_SECRET } }\n    confirm: { url: "http://127.0.0.1:1/r/{deliveryId}", within: 30s }\n${extra}`;
    const c = loadConfigText(syn(''), { kinds: PROBE_KINDS, file: 's.yaml', env });
    // connect 5 s + response 10 s + confirm 30 s, plus 5 s margin
    expect(c.probes[0]!.timeoutMs).toBe(50_000);
    expect(() => loadConfigText(syn('    timeout: 10s\n'), { kinds: PROBE_KINDS, file: 's.yaml', env })).toThrow(
      /s.yaml:\d+:\d+: probes\[0\].timeout: timeout 10s is shorter than this probe's own deadlines \(45s/,
    );
  });
});
