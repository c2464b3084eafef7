// Every shipped config (each probe's example.yaml, the BTCPay template, the demo's file) must pass
// validation, so the docs never drift from the schema. Secret references are pointed at test values.
import { readdirSync, readFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigText } from '../src/config/load.ts';
import { PROBE_KINDS } from '../probes/registry.ts';
import { ROOT } from './helpers/agent-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'hw-examples-'));
const SECRET = 'example-secret-value-42';

/** Point every `{ file: X }` at a temp file and set every `{ env: X }`. */
function prepare(text: string): { text: string; env: Record<string, string> } {
  const env: Record<string, string> = {};
  let i = 0;
  const out = text
    .replace(/\{\s*file:\s*([^\s}]+)\s*\}/g, () => {
      const f = join(dir, `secret-${i++}`);
      writeFileSync(f, SECRET);
      return `{ file: ${f} }`;
    })
    .replace(/\{\s*env:\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}/g, (m, name: string) => {
      env[name] = SECRET;
      return m;
    });
  return { text: out, env };
}

const files = [
  ...readdirSync(join(ROOT, 'probes'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(ROOT, 'probes', d.name, 'example.yaml')))
    .map((d) => join('probes', d.name, 'example.yaml')),
  join('probes', 'btcpay.yaml'),
];

describe('shipped configs validate', () => {
  it('every probe kind has a folder with index.ts, README.md and example.yaml', () => {
    for (const kind of PROBE_KINDS) {
      const folder = kind.type.replace(/_/g, '-');
      for (const f of ['index.ts', 'README.md', 'example.yaml']) expect(existsSync(join(ROOT, 'probes', folder, f)), `${folder}/${f}`).toBe(true);
    }
  });

  for (const f of files) {
    it(f, () => {
      const { text, env } = prepare(readFileSync(join(ROOT, f), 'utf8'));
      const c = loadConfigText(text, { kinds: PROBE_KINDS, file: join(ROOT, f), env });
      expect(c.probes.length).toBeGreaterThan(0);
      expect(JSON.stringify(c)).not.toContain(SECRET);
    });
  }

  it('the BTCPay template covers every paging probe kind', () => {
    const { text, env } = prepare(readFileSync(join(ROOT, 'probes', 'btcpay.yaml'), 'utf8'));
    const c = loadConfigText(text, { kinds: PROBE_KINDS, file: 'btcpay.yaml', env });
    expect(new Set(c.probes.map((p) => p.type))).toEqual(new Set(['delivery_rate', 'paid_latency', 'synthetic', 'dns_drift', 'reconcile']));
  });

  it('the demo file validates once its placeholders are filled', () => {
    let text = readFileSync(join(ROOT, 'probes', 'demo.yaml'), 'utf8');
    // The demo writes its secrets to files, so the printed config works as is with `once` and `redeliver`.
    const secrets = mkdtempSync(join(tmpdir(), 'hw-demo-secrets-'));
    writeFileSync(join(secrets, 'key'), 'k\n');
    writeFileSync(join(secrets, 'wh'), 's\n');
    const fill = {
      __RESOLVER__: '127.0.0.1:5353',
      __AUTHORITATIVE__: '127.0.0.1:5300',
      __BTCPAY_URL__: 'http://127.0.0.1:1',
      __STORE_ID__: 's',
      __RECORDS_URL__: 'http://127.0.0.1:2',
      __RECEIVER_PORT__: '8080',
      __API_KEY_FILE__: join(secrets, 'key'),
      __WEBHOOK_SECRET_FILE__: join(secrets, 'wh'),
    };
    for (const [k, v] of Object.entries(fill)) text = text.split(k).join(v);
    const c = loadConfigText(text, { kinds: PROBE_KINDS, file: 'demo.yaml', env: {} });
    expect(c.probes.map((p) => p.type).sort()).toEqual(['delivery_rate', 'dns_drift', 'paid_latency', 'reconcile', 'synthetic']);
  });
});
