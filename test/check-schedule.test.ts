// `hookwatch check` shows each probe's effective interval and timeout and where they came from, so
// the precedence (probe, kind default, global) cannot be misread: synthetic ignores global.interval.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/agent-process.ts';

describe('check prints effective schedules', () => {
  it('names the source of each interval and timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-check-'));
    const f = join(dir, 'probes.yaml');
    const sig = 'signing: { scheme: btcpay, secret: { env: HW_S } }';
    writeFileSync(
      f,
      `global: { interval: 30s, timeout: 45s }\nprobes:\n` +
        `  - { name: s, type: synthetic, targets: ["https://h.example.com/w"], ${sig} }\n` +
        `  - { name: s2, type: synthetic, interval: 10m, timeout: 2m, targets: ["https://h.example.com/w"], ${sig} }\n` +
        '  - { name: h, type: http, url: "http://x.example.com/" }\n' +
        '  - { name: h2, type: http, url: "http://x.example.com/", interval: 2m, timeout: 5s }\n',
    );
    const r = await runCli(['check', '--config.file', f], { env: { HW_S: 'whsec-abcdefgh' } });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(1, 5)).toEqual([
      '  s (synthetic): every 1h (synthetic default), timeout 20s (synthetic default)',
      '  s2 (synthetic): every 10m (probe), timeout 2m (probe)',
      '  h (http): every 30s (global.interval), timeout 30s (global.timeout, capped at the interval)',
      '  h2 (http): every 2m (probe), timeout 5s (probe)',
    ]);
  });
});
