// deploy/systemd: the unit passes `systemd-analyze verify`, scores "OK" (≤ 2.0) in
// `systemd-analyze security --offline=yes`, keeps the hardening and reload contract, and every secret the
// shipped config names is a LoadCredential= of the unit at the path systemd gives it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { CLI, ROOT, runCli } from './helpers/agent-process.ts';

const UNIT = readFileSync(join(ROOT, 'deploy', 'systemd', 'hookwatch.service'), 'utf8');
const CONFIG = readFileSync(join(ROOT, 'deploy', 'systemd', 'hookwatch.yaml'), 'utf8');
const CRED_DIR = '/run/credentials/hookwatch.service/';

/** Values of a directive in the [Service] section, in order. */
function directive(name: string): string[] {
  const service = UNIT.split(/^\[Service\]$/m)[1]!.split(/^\[/m)[0]!;
  return [...service.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hookwatch-systemd-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('systemd unit: contract', () => {
  it('runs the agent with the config, checks it before start and reloads on SIGHUP', () => {
    expect(directive('ExecStart')).toEqual([expect.stringMatching(/^\/usr\/local\/bin\/hookwatch run --config\.file=\/etc\/hookwatch\/hookwatch\.yaml /)]);
    expect(directive('ExecStartPre')).toEqual(['/usr/local/bin/hookwatch check --config.file=/etc/hookwatch/hookwatch.yaml']);
    expect(directive('ExecReload')).toEqual(['kill -HUP $MAINPID']);
    expect(directive('Restart')).toEqual(['on-failure']);
  });

  it('is hardened: dynamic user, read-only system, no new privileges, narrow sockets and syscalls', () => {
    expect(directive('DynamicUser')).toEqual(['yes']);
    expect(directive('ProtectSystem')).toEqual(['strict']);
    expect(directive('NoNewPrivileges')).toEqual(['yes']);
    expect(directive('CapabilityBoundingSet')).toEqual(['']);
    expect(directive('RestrictAddressFamilies')).toEqual(['AF_INET AF_INET6 AF_UNIX']);
    expect(directive('SystemCallFilter')[0]).toBe('@system-service');
    expect(directive('SystemCallFilter')[1]).toMatch(/^~@privileged /);
  });

  it('maps every LoadCredential= to a { file: } secret of the shipped config, and back', () => {
    const creds = directive('LoadCredential').map((v) => v.split(':')[0]!);
    expect(creds.length).toBeGreaterThan(0);
    const referenced = [...CONFIG.matchAll(/\{ file: ([^ }]+) \}/g)].map((m) => m[1]!);
    expect(referenced.length).toBeGreaterThan(0);
    for (const ref of referenced) expect(ref.startsWith(CRED_DIR), ref).toBe(true);
    expect(referenced.map((r) => r.slice(CRED_DIR.length)).sort()).toEqual([...creds].sort());
  });

  it('ships a config that `hookwatch check` accepts once the credentials are where systemd puts them', async () => {
    const credDir = join(dir, 'credentials');
    mkdirSync(credDir);
    for (const v of directive('LoadCredential')) writeFileSync(join(credDir, v.split(':')[0]!), 'not-a-real-secret\n', { mode: 0o600 });
    const cfg = join(dir, 'hookwatch.yaml');
    writeFileSync(cfg, CONFIG.replaceAll(CRED_DIR, `${credDir}/`));
    const r = await runCli(['check', '--config.file', cfg]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('not-a-real-secret');
  });
});

describe.skipIf(missingBinaries('systemd-analyze'))('systemd unit: systemd-analyze', () => {
  // verify checks that ExecStart's binary exists: point it at this checkout's CLI, nothing else changes.
  const local = () => {
    const f = join(dir, 'hookwatch.service');
    writeFileSync(f, UNIT.replaceAll('/usr/local/bin/hookwatch', CLI));
    return f;
  };

  it('passes systemd-analyze verify without a warning', () => {
    const r = spawnSync(bin('systemd-analyze'), ['verify', local()], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('hookwatch.service'))).toEqual([]);
  });

  it('scores OK (exposure ≤ 2.0) in systemd-analyze security --offline=yes', () => {
    const r = spawnSync(bin('systemd-analyze'), ['security', '--offline=yes', '--no-pager', local()], { encoding: 'utf8', timeout: 60_000 });
    const m = /Overall exposure level for hookwatch\.service: ([\d.]+) (\w+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).toBeTruthy();
    console.log(`systemd exposure score: ${m![1]} ${m![2]}`);
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
    expect(m![2]).toBe('OK');
  });
});
