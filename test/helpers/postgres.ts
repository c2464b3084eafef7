// A real PostgreSQL (Debian's binaries) on a free loopback port in a temp dir, with a password-auth
// role for the code under test. PostgreSQL refuses to run as root, so as root the server runs as
// `nobody` (spawn's uid/gid), in a directory it owns.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chownSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { findBinary } from './daemons.ts';

export interface TestPostgres {
  host: string;
  port: number;
  /** Superuser (trust on the unix socket only; password over TCP). */
  admin: { user: string; password: string };
  /** Application role with password auth, owner of `database`. */
  user: string;
  password: string;
  database: string;
  /** Run SQL as the admin in `database`. */
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  stop(): Promise<void>;
}

export function postgresBinary(name: 'initdb' | 'postgres'): string | undefined {
  return findBinary(name);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startPostgres(opts: { database?: string; user?: string; password?: string } = {}): Promise<TestPostgres> {
  const initdb = postgresBinary('initdb');
  const postgres = postgresBinary('postgres');
  if (!initdb || !postgres) throw new Error('PostgreSQL binaries (initdb, postgres) not found');
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-pg-'));
  const data = join(dir, 'data');
  const adminPassword = 'admin-' + Math.random().toString(36).slice(2);
  writeFileSync(join(dir, 'pw'), adminPassword + '\n');
  // As root, run initdb and postgres directly with nobody's uid/gid (no su/runuser wrapper in
  // between, so our signals reach postgres itself and stop() really stops it).
  let ids: { uid: number; gid: number } | undefined;
  if (asRoot) {
    ids = {
      uid: Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim()),
    };
    chownSync(dir, ids.uid, ids.gid);
    chownSync(join(dir, 'pw'), ids.uid, ids.gid);
  }
  chmodSync(dir, 0o700);
  const as = { ...(ids ?? {}), env: { ...process.env, HOME: dir } };

  execFileSync(
    initdb,
    [
      '-D',
      data,
      '-U',
      'postgres',
      '--pwfile',
      join(dir, 'pw'),
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--no-sync',
      '--locale=C.UTF-8',
    ],
    {
      ...as,
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir,
      timeout: 60_000,
    },
  );

  const port = await freePort();
  const proc: ChildProcess = spawn(
    postgres,
    ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'shared_buffers=16MB', '-c', 'max_connections=20'],
    {
      ...as,
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir,
    },
  );
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  let exited = false;
  // If the test process dies without afterAll, do not leave a postgres behind.
  const onExit = () => {
    if (!exited) proc.kill('SIGKILL');
  };
  process.once('exit', onExit);
  proc.once('exit', () => {
    exited = true;
    process.removeListener('exit', onExit);
  });

  const admin = { host: '127.0.0.1', port, user: 'postgres', password: adminPassword };
  let ready = false;
  for (let i = 0; i < 150 && !exited; i++) {
    const c = new pg.Client({ ...admin, database: 'postgres', connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.end();
      ready = true;
      break;
    } catch {
      await c.end().catch(() => undefined);
      await sleep(100);
    }
  }
  const stop = async () => {
    if (!exited) {
      proc.kill('SIGINT'); // fast shutdown
      for (let i = 0; i < 100 && !exited; i++) await sleep(50);
      if (!exited) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  if (!ready) {
    await stop();
    throw new Error(`PostgreSQL did not become ready on 127.0.0.1:${port}: ${stderr}`);
  }

  const database = opts.database ?? 'shop';
  const user = opts.user ?? 'hookwatch';
  const password = opts.password ?? 'pw-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  const a = new pg.Client({ ...admin, database: 'postgres' });
  await a.connect();
  try {
    await a.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password.replace(/'/g, "''")}'`);
    await a.query(`CREATE DATABASE ${database} OWNER ${user}`);
  } finally {
    await a.end();
  }
  return {
    host: '127.0.0.1',
    port,
    admin: { user: 'postgres', password: adminPassword },
    user,
    password,
    database,
    async sql(text, params) {
      const c = new pg.Client({ ...admin, database });
      await c.connect();
      try {
        return await c.query(text, params);
      } finally {
        await c.end();
      }
    },
    stop,
  };
}
