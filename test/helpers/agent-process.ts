// Runs the real CLI (`node bin/hookwatch.js ...`) as a child process, as users and Prometheus see it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'bin', 'hookwatch.js');
/** The launcher's first line, `#!/usr/bin/env -S NAME=value ... node --flag ...`: what an installed `hookwatch` runs with. */
export const LAUNCHER_LINE = readFileSync(CLI, 'utf8').split('\n', 1)[0]!;
const SHEBANG = LAUNCHER_LINE.split(/\s+/);
const NODE_AT = SHEBANG.indexOf('node');
/** The node flags of the launcher's first line. */
export const LAUNCHER_NODE_FLAGS: string[] = SHEBANG.slice(NODE_AT + 1);
/** The environment the launcher's first line sets (`env -S NAME=value`), given to every agent the tests start. */
export const LAUNCHER_ENV: Record<string, string> = Object.fromEntries(
  SHEBANG.slice(2, NODE_AT).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
);
/** Environment entries that remove the launcher's variables from a child's environment (to run without them). */
export const WITHOUT_LAUNCHER_ENV: NodeJS.ProcessEnv = Object.fromEntries(Object.keys(LAUNCHER_ENV).map((k) => [k, undefined]));

/** Run the CLI to completion. Asynchronous on purpose: test servers in this process must keep answering. */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...LAUNCHER_NODE_FLAGS, CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...LAUNCHER_ENV, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface AgentProcess {
  child: ChildProcess;
  url: string;
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/** Start `hookwatch run` on a free loopback port; resolves once it logs its address. */
export async function startAgent(
  configFile: string,
  opts: { env?: NodeJS.ProcessEnv; extraArgs?: string[]; timeoutMs?: number; host?: string; nodeFlags?: string[] } = {},
): Promise<AgentProcess> {
  const host = opts.host ?? '127.0.0.1';
  const child = spawn(
    process.execPath,
    [...(opts.nodeFlags ?? LAUNCHER_NODE_FLAGS), CLI, 'run', '--config.file', configFile, '--web.listen-address', `${host}:0`, ...(opts.extraArgs ?? [])],
    {
      cwd: ROOT,
      env: { ...process.env, ...LAUNCHER_ENV, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  let buf = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not start in time; logs:\n${logs.join('\n')}`)), opts.timeoutMs ?? 20_000);
    const onData = (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        logs.push(line);
        const m = /"address":"([^"]+)"/.exec(line) ?? /address=(\S+)/.exec(line);
        if (m && line.includes('listening')) {
          clearTimeout(timer);
          const [h, p] = [m[1]!.slice(0, m[1]!.lastIndexOf(':')), m[1]!.slice(m[1]!.lastIndexOf(':') + 1)];
          resolve(`http://${h.includes(':') ? `[${h}]` : h}:${p}`);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code}; logs:\n${logs.join('\n')}${buf}`));
    });
  });
  return {
    child,
    url,
    logs,
    stop(signal = 'SIGTERM') {
      const t0 = Date.now();
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve({ code: child.exitCode, ms: 0 });
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', (code) => {
          clearTimeout(kill);
          resolve({ code, ms: Date.now() - t0 });
        });
        child.kill(signal);
      });
    },
  };
}

/** Poll until fn returns a truthy value (bounded in time). */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
  throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
}
