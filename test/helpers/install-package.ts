// The npm package as users get it: `npm pack` of a current build, installed into an empty folder with
// production dependencies only. Shared by the package and image tests; built at most once per process.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './agent-process.ts';

const npmCli = process.env.npm_execpath && process.env.npm_execpath.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];

export function npm(args: string[], cwd: string, timeoutMs = 180_000): string {
  const [cmd, ...pre] = npmCli;
  const r = spawnSync(cmd!, [...pre, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Same rule as bin/hookwatch.js: the build is current when no compiled file's source changed after it. */
function buildIsCurrent(): boolean {
  const stamp = join(ROOT, 'dist', '.build-complete');
  if (!existsSync(stamp)) return false;
  const builtAt = statSync(stamp).mtimeMs;
  const walk = (d: string, s: string): boolean =>
    readdirSync(d, { withFileTypes: true }).every((e) =>
      e.isDirectory()
        ? walk(join(d, e.name), join(s, e.name))
        : !e.name.endsWith('.js') ||
          !existsSync(join(s, e.name.replace(/\.js$/, '.ts'))) ||
          statSync(join(s, e.name.replace(/\.js$/, '.ts'))).mtimeMs <= builtAt,
    );
  return walk(join(ROOT, 'dist'), ROOT);
}

let packed: string | undefined;

/** The package tarball of the current sources (runs `npm run build` first only when dist/ is missing or stale). */
export function packTarball(): string {
  if (packed && existsSync(packed)) return packed;
  if (!buildIsCurrent()) npm(['run', 'build'], ROOT);
  const dest = mkdtempSync(join(tmpdir(), 'hookwatch-pack-'));
  // The build is current; --ignore-scripts skips prepack so parallel tests never see dist/ swapped under them.
  const out = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dest], ROOT)) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  packed = join(dest, out[0]!.filename);
  return packed;
}

/** Files listed in the tarball. */
export function tarballFiles(tgz: string): string[] {
  return execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ''));
}

/** Install the tarball into a fresh folder with production dependencies only; returns the folder. */
export function installTarball(tgz: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-installed-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'hookwatch-install-test', private: true }));
  // --prefer-offline: the dependencies come from npm's cache (filled by `npm ci`), the registry only when absent.
  npm(['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tgz], dir);
  return dir;
}
