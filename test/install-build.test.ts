// bin/hookwatch.js picks what to run: the build in dist/ when it is current (or when there are no sources, as in
// the installed package), the TypeScript sources through tsx when there is no build or a source changed after it.
// Exercised on a scratch copy of the bin with stand-in entry points that say which one ran.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { LAUNCHER_ENV, LAUNCHER_LINE, LAUNCHER_NODE_FLAGS, ROOT, WITHOUT_LAUNCHER_ENV } from './helpers/agent-process.ts';

let dir: string;
const run = (env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [join(dir, 'bin', 'hookwatch.js')], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, HOOKWATCH_FROM: '', ...env },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
};
const at = (file: string, secondsAgo: number) => utimesSync(file, new Date(Date.now() - secondsAgo * 1000), new Date(Date.now() - secondsAgo * 1000));

function writeSources() {
  mkdirSync(join(dir, 'src', 'server'), { recursive: true });
  writeFileSync(join(dir, 'src', 'cli.ts'), "const from: string = 'src';\nconsole.log(from);\n");
  writeFileSync(join(dir, 'src', 'server', 'app.ts'), 'export {};\n');
}
function writeBuild() {
  mkdirSync(join(dir, 'dist', 'src', 'server'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'src', 'cli.js'), "console.log('dist');\n");
  writeFileSync(join(dir, 'dist', 'src', 'server', 'app.js'), 'export {};\n');
  writeFileSync(join(dir, 'dist', '.build-complete'), 'now\n');
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hookwatch-bin-'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'hookwatch.js'), join(dir, 'bin', 'hookwatch.js'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('bin/hookwatch.js', () => {
  it('runs the sources through tsx in a checkout without a build (the README’s first command)', () => {
    writeSources();
    expect(run()).toEqual({ code: 0, out: 'src' });
  });

  it('runs the build when it is newer than every source it was compiled from', () => {
    writeSources();
    at(join(dir, 'src', 'cli.ts'), 60);
    at(join(dir, 'src', 'server', 'app.ts'), 60);
    writeBuild();
    expect(run()).toEqual({ code: 0, out: 'dist' });
  });

  it('falls back to the sources when one changed after the build, even deep in a folder', () => {
    writeSources();
    at(join(dir, 'src', 'cli.ts'), 120);
    writeBuild();
    at(join(dir, 'dist', '.build-complete'), 60);
    // Only src/server/app.ts (written now) is newer than the build.
    expect(run()).toEqual({ code: 0, out: 'src' });
  });

  it('treats a build without its completion stamp as unfinished', () => {
    writeSources();
    writeBuild();
    rmSync(join(dir, 'dist', '.build-complete'));
    expect(run()).toEqual({ code: 0, out: 'src' });
  });

  it('runs the build when there are no sources (the installed package), and HOOKWATCH_FROM forces either', () => {
    writeBuild();
    expect(run()).toEqual({ code: 0, out: 'dist' });
    writeSources();
    expect(run({ HOOKWATCH_FROM: 'dist' })).toEqual({ code: 0, out: 'dist' });
    at(join(dir, 'src', 'cli.ts'), 60);
    at(join(dir, 'src', 'server', 'app.ts'), 60);
    expect(run({ HOOKWATCH_FROM: 'src' })).toEqual({ code: 0, out: 'src' });
  });

  it('says what to do when there is neither a build nor tsx', () => {
    writeSources();
    rmSync(join(dir, 'node_modules'));
    const r = run();
    expect(r.code).toBe(2);
    expect(r.out).toContain('npm run build');
  });

  it('runs node with the flags and environment of its first line when executed as a program (an installed `hookwatch`)', () => {
    expect(LAUNCHER_NODE_FLAGS).toContain('--no-opt');
    expect(LAUNCHER_ENV).toEqual({ MALLOC_MMAP_THRESHOLD_: '131072' });
    // Linux (5.1 and later) reads at most 255 bytes of a script's `#!` line; a longer one would be cut silently.
    expect(Buffer.byteLength(LAUNCHER_LINE)).toBeLessThan(256);
    const names = JSON.stringify(Object.keys(LAUNCHER_ENV));
    writeBuild();
    writeFileSync(join(dir, 'dist', 'src', 'cli.js'), `console.log(JSON.stringify([process.execArgv, ${names}.map((k) => process.env[k])]));\n`);
    const bin = join(dir, 'bin', 'hookwatch.js');
    chmodSync(bin, 0o755);
    // `env` finds node on PATH: this test's node first.
    const r = spawnSync(bin, [], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        ...process.env,
        ...WITHOUT_LAUNCHER_ENV,
        HOOKWATCH_FROM: 'dist',
        NODE_OPTIONS: '',
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual([LAUNCHER_NODE_FLAGS, Object.values(LAUNCHER_ENV)]);
  });
});
