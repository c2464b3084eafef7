// A reload must pick up a rotated secret (file or environment) even though the config text is
// unchanged, and per-probe state earned against a source must not survive a change of that source.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Agent } from '../src/agent.ts';
import { createLogger } from '../src/log.ts';
import { RunLogStore } from '../src/scheduler/run-log.ts';
import { secretRef } from '../src/config/schema-helpers.ts';
import { defineProbe, type ProbeKind } from '../src/probe/types.ts';

const seen: string[] = [];
// Records the secret value it signs with, and whether it had already "checked" its source.
const signer = defineProbe({
  type: 'signer',
  schema: z.strictObject({ secret: secretRef(), source: z.string().optional() }),
  async run(p, ctx) {
    seen.push(p.secret.reveal());
    const checked = ctx.state.get('checked') === true;
    ctx.state.set('checked', true);
    return {
      ok: true,
      details: {
        checked,
        sourceKey: p.source ? ctx.source(p.source).type === 'btcpay' && (ctx.source(p.source) as { apiKey: { reveal(): string } }).apiKey.reveal().length : 0,
      },
    };
  },
});
const kinds = [signer] as ProbeKind[];
const quiet = () => createLogger({ level: 'error', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function setup(yaml: (dir: string) => string, env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hw-rotate-'));
  const file = join(dir, 'probes.yaml');
  writeFileSync(file, yaml(dir));
  const agent = new Agent({ configFile: file, kinds, log: quiet(), runLogs: new RunLogStore(), env });
  return { dir, file, agent };
}

describe('reload and secrets', () => {
  it('a rotated secret file is used after a reload although the config text did not change', async () => {
    seen.length = 0;
    const { dir, agent } = setup((d) => `probes:\n  - { name: p, type: signer, interval: 1h, secret: { file: ${join(d, 'secret')} } }\n`);
    writeFileSync(join(dir, 'secret'), 'old-secret-value\n');
    await agent.start();
    await agent.scheduler.runOnce('p');
    writeFileSync(join(dir, 'secret'), 'new-secret-value\n');
    expect(agent.reload()).toMatchObject({ ok: true });
    await agent.scheduler.runOnce('p');
    await agent.stop();
    expect(seen).toEqual(['old-secret-value', 'new-secret-value']);
  });

  it('a rotated environment secret is used after a reload', async () => {
    seen.length = 0;
    const env: NodeJS.ProcessEnv = { HW_SECRET: 'first-env-secret' };
    const { agent } = setup(() => 'probes:\n  - { name: p, type: signer, interval: 1h, secret: { env: HW_SECRET } }\n', env);
    await agent.start();
    await agent.scheduler.runOnce('p');
    env.HW_SECRET = 'second-env-secret';
    agent.reload();
    await agent.scheduler.runOnce('p');
    await agent.stop();
    expect(seen).toEqual(['first-env-secret', 'second-env-secret']);
  });

  it("state carried across reloads is dropped when the probe's source or secrets change, kept otherwise", async () => {
    seen.length = 0;
    const env: NodeJS.ProcessEnv = { HW_SECRET: 'signing-secret-1', HW_KEY: 'api-key-1' };
    const yaml = (url: string, interval: string) => () =>
      `sources:\n  shop: { type: btcpay, url: "${url}", apiKey: { env: HW_KEY }, storeId: s1 }\n` +
      `probes:\n  - { name: p, type: signer, interval: ${interval}, source: shop, secret: { env: HW_SECRET } }\n`;
    const { file, agent } = setup(yaml('http://127.0.0.1:1', '1h'), env);
    await agent.start();
    const checked = async () => (await agent.scheduler.runOnce('p')).result.details!.checked;
    expect(await checked()).toBe(false);
    expect(await checked()).toBe(true);
    // A settings-only change keeps what the probe learnt.
    writeFileSync(file, yaml('http://127.0.0.1:1', '2h')());
    agent.reload();
    expect(await checked()).toBe(true);
    // The source now points elsewhere: a fresh start.
    writeFileSync(file, yaml('http://127.0.0.1:2', '2h')());
    agent.reload();
    expect(await checked()).toBe(false);
    expect(await checked()).toBe(true);
    // The source's API key rotated (same reference): a fresh start, and the new key is in use.
    env.HW_KEY = 'api-key-rotated';
    agent.reload();
    const r = await agent.scheduler.runOnce('p');
    expect(r.result.details).toMatchObject({ checked: false, sourceKey: 'api-key-rotated'.length });
    // The probe's own secret rotated: a fresh start too.
    env.HW_SECRET = 'signing-secret-2';
    agent.reload();
    expect(await checked()).toBe(false);
    await agent.stop();
  });
});
