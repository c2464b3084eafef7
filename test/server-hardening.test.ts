// The HTTP surface against an outsider: wrong passwords cannot stall the agent or tell which users
// exist, credentials are re-read on reload, reloads need --web.enable-lifecycle and a same-site
// request, and errors reach the client as plain text without stack traces or paths.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Agent, type AgentOptions } from '../src/agent.ts';
import { createLogger } from '../src/log.ts';
import { RunLogStore } from '../src/scheduler/run-log.ts';
import { BasicAuth, parseBasic } from '../src/server/auth.ts';
import { defineProbe, type ProbeKind } from '../src/probe/types.ts';

const ok = defineProbe({ type: 'ok', schema: z.strictObject({}), run: async () => ({ ok: true }) });
const basic = (user: string, pass: string, scheme = 'Basic') => `${scheme} ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

let agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  agents = [];
});

async function start(opts: Partial<AgentOptions> & { webYaml?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hw-server-'));
  const file = join(dir, 'probes.yaml');
  writeFileSync(file, 'probes:\n  - { name: p, type: ok, interval: 1h }\n');
  const logLines: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(c.toString()), cb()) }) });
  let webConfigFile: string | undefined;
  if (opts.webYaml !== undefined) writeFileSync((webConfigFile = join(dir, 'web.yml')), opts.webYaml);
  const agent = new Agent({
    configFile: file,
    kinds: [ok] as ProbeKind[],
    log,
    runLogs: new RunLogStore(),
    listenAddress: '127.0.0.1:0',
    webConfigFile,
    ...opts,
  });
  await agent.start();
  agents.push(agent);
  return { agent, url: `http://127.0.0.1:${agent.address()!.port}`, dir, webConfigFile, logLines };
}

/** A stand-in for the bcrypt worker that records what it was asked. */
function fakeWorker(answer: (p: string) => boolean = (p) => p === 'right') {
  const calls: Array<{ password: string; hash: string }> = [];
  return { calls, queued: 0, compare: async (password: string, hash: string) => (calls.push({ password, hash }), answer(password)) };
}

describe('basic auth', () => {
  it('accepts the scheme name in any case and rejects malformed headers', () => {
    expect(parseBasic(basic('u', 'p', 'basic'))).toEqual({ user: 'u', password: 'p' });
    expect(parseBasic(basic('u', 'p:q', 'BASIC'))).toEqual({ user: 'u', password: 'p:q' });
    expect(parseBasic('Bearer abc')).toBeUndefined();
    expect(parseBasic(`Basic ${Buffer.from('no-colon').toString('base64')}`)).toBeUndefined();
  });

  it('does the same bcrypt work for an unknown user as for a known one, and never accepts it', async () => {
    const w = fakeWorker(() => true);
    const auth = new BasicAuth({ prom: '$2b$10$knownhash' }, w);
    expect(await auth.check(basic('ghost', 'right'), 'c1')).toBe('denied');
    expect(await auth.check(basic('prom', 'right'), 'c1')).toBe('ok');
    expect(w.calls.map((c) => c.hash)).toEqual(['$2b$10$knownhash', '$2b$10$knownhash']);
  });

  it('caches successful verifications, and a changed password is verified again', async () => {
    const w = fakeWorker();
    const auth = new BasicAuth({ prom: '$2b$10$h' }, w);
    for (let i = 0; i < 5; i++) expect(await auth.check(basic('prom', 'right'), 'c1')).toBe('ok');
    expect(w.calls).toHaveLength(1);
    expect(await auth.check(basic('prom', 'wrong'), 'c1')).toBe('denied');
    expect(w.calls).toHaveLength(2);
  });

  it('limits failed attempts per client without bcrypt work, while cached credentials keep working', async () => {
    let now = 0;
    const w = fakeWorker();
    const auth = new BasicAuth({ prom: '$2b$10$h' }, w, { failureBurst: 3, failureRefillPerSecond: 1, verifyPerSecond: 100 }, () => now);
    expect(await auth.check(basic('prom', 'right'), 'attacker')).toBe('ok');
    const verdicts = [];
    for (let i = 0; i < 10; i++) verdicts.push(await auth.check(basic('prom', `guess${i}`), 'attacker'));
    expect(verdicts).toEqual(['denied', 'denied', 'denied', ...Array(7).fill('limited')]);
    expect(w.calls).toHaveLength(4);
    // The scraper on the same address still gets in, and another client is not affected.
    expect(await auth.check(basic('prom', 'right'), 'attacker')).toBe('ok');
    expect(await auth.check(basic('prom', 'guess'), 'other')).toBe('denied');
    expect(auth.retryAfter('attacker')).toBeGreaterThanOrEqual(1);
    now += 1500;
    expect(await auth.check(basic('prom', 'guess'), 'attacker')).toBe('denied');
  });

  it('bounds bcrypt checks per second over all clients, however many addresses an attacker has', async () => {
    let now = 0;
    const w = fakeWorker();
    const auth = new BasicAuth({ prom: '$2b$10$h' }, w, { verifyPerSecond: 1 }, () => now);
    const verdicts = [];
    for (let i = 0; i < 4; i++) verdicts.push(await auth.check(basic('prom', 'guess'), `10.0.0.${i}`));
    expect(verdicts).toEqual(['denied', 'denied', 'busy', 'busy']);
    expect(w.calls).toHaveLength(2);
    now += 1000;
    expect(await auth.check(basic('prom', 'right'), '10.0.0.9')).toBe('ok');
  });

  it('refuses new checks when the verification queue is full', async () => {
    const w = { ...fakeWorker(), queued: 16 };
    expect(await new BasicAuth({ prom: '$2b$10$h' }, w).check(basic('prom', 'x'), 'c')).toBe('busy');
  });

  it('verifies off the event loop: timers keep firing while wrong passwords are checked', async () => {
    const hash = bcrypt.hashSync('right', 12);
    const { url } = await start({ webYaml: `basic_auth_users:\n  prom: '${hash}'\n` });
    let ticks = 0;
    const iv = setInterval(() => ticks++, 5);
    const statuses = await Promise.all(
      [1, 2, 3].map(async (i) => (await fetch(`${url}/metrics`, { headers: { authorization: basic('prom', `wrong${i}`) } })).status),
    );
    clearInterval(iv);
    expect(statuses).toEqual([401, 401, 401]);
    // Three cost-12 bcrypt checks on the event loop would leave almost no ticks.
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('re-reads the web config on reload: a changed password applies without a restart', async () => {
    const { agent, url, webConfigFile } = await start({ webYaml: `basic_auth_users:\n  prom: '${bcrypt.hashSync('first', 4)}'\n` });
    const status = async (p: string) => (await fetch(`${url}/-/healthy`, { headers: { authorization: basic('prom', p, 'basic') } })).status;
    expect(await status('first')).toBe(200);
    writeFileSync(webConfigFile!, `basic_auth_users:\n  prom: '${bcrypt.hashSync('second', 4)}'\n`);
    expect(agent.reload()).toMatchObject({ ok: true });
    expect(await status('first')).toBe(401);
    expect(await status('second')).toBe(200);
    // A broken web config is a failed reload that keeps the current settings.
    writeFileSync(webConfigFile!, 'basic_auth_users: [oops]\n');
    expect(agent.reload()).toMatchObject({ ok: false });
    expect(await status('second')).toBe(200);
  });
});

describe('lifecycle endpoints', () => {
  it('POST /-/reload is refused unless --web.enable-lifecycle is set', async () => {
    const { url } = await start();
    const r = await fetch(`${url}/-/reload`, { method: 'POST' });
    expect(r.status).toBe(403);
    expect(await r.text()).toContain('--web.enable-lifecycle');
  });

  it('with the lifecycle API on, cross-site requests are refused and same-origin ones reload', async () => {
    const { url } = await start({ enableLifecycle: true });
    const post = async (headers: Record<string, string>) => (await fetch(`${url}/-/reload`, { method: 'POST', headers })).status;
    expect(await post({ 'sec-fetch-site': 'cross-site' })).toBe(403);
    expect(await post({ origin: 'https://evil.example' })).toBe(403);
    expect(await post({ origin: 'null' })).toBe(403);
    expect(await post({ origin: url, 'sec-fetch-site': 'same-origin' })).toBe(200);
    expect(await post({})).toBe(200);
  });
});

describe('errors reach clients as plain text', () => {
  it('a malformed path gives 400 with no stack trace or file path; details go to the log', async () => {
    const { url, logLines } = await start();
    const r = await fetch(`${url}/probe/%E0%A4%A/log`);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    const body = await r.text();
    expect(body).toBe('Bad Request\n');
    expect(logLines.join('')).toContain('bad HTTP request');
    const nf = await fetch(`${url}/nope`);
    expect(nf.status).toBe(404);
    expect(await nf.text()).toBe('Not Found\n');
  });
});
