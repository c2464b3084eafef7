// Basic auth against bcrypt hashes (exporter-toolkit's web config), built so that wrong passwords
// cannot stall the agent:
// - bcrypt runs in a worker thread, one check at a time with a short queue, never on the event loop
//   that serves /metrics and drives the probes; bcryptjs is loaded only there, and only once needed;
// - successful verifications are cached (keyed by a hash of the header), as exporter-toolkit does,
//   so a scraper pays for bcrypt once, not per scrape;
// - an unknown user costs the same as a known one (their password is checked against a configured
//   hash and the answer ignored), so response times do not tell which users exist;
// - failed attempts are limited per client address: past the burst, a client gets 429 without any
//   bcrypt work until its allowance refills; over all clients, bcrypt checks are limited per second
//   (503 beyond), so even an attack from many addresses cannot keep a core busy.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export type AuthVerdict = 'ok' | 'denied' | 'limited' | 'busy';

export interface AuthLimits {
  /** Failed attempts a client may make at once... */
  failureBurst: number;
  /** ...and how fast that allowance comes back (attempts per second). */
  failureRefillPerSecond: number;
  /** Checks waiting for the worker beyond which new ones are refused (503) instead of queued. */
  maxQueue: number;
  /** bcrypt checks per second over all clients (burst: twice that), so the worker's CPU use is bounded too. */
  verifyPerSecond: number;
  /** Remembered successful credentials; the oldest go first. */
  cacheSize: number;
  /** Clients tracked by the limiter. */
  maxClients: number;
}

export const DEFAULT_AUTH_LIMITS: AuthLimits = {
  failureBurst: 5,
  failureRefillPerSecond: 0.5,
  maxQueue: 16,
  verifyPerSecond: 2,
  cacheSize: 256,
  maxClients: 10_000,
};

/** The worker's source: plain CommonJS, so it runs the same under tsx, a build, or a test runner. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// Lowest CPU priority for this thread only (on Linux the nice value is per thread): under load the
// event loop that serves scrapes and runs probes always comes first.
try { require('node:os').setPriority(19); } catch {}
const bcrypt = require(workerData.bcrypt);
parentPort.on('message', ({ id, password, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(password, hash); } catch { ok = false; }
  parentPort.postMessage({ id, ok });
});
`;

/** One worker thread running bcrypt comparisons in order. Started on first use, unref'd when idle. */
export class BcryptWorker {
  #worker?: Worker;
  #next = 0;
  readonly #pending = new Map<number, (ok: boolean) => void>();

  get queued(): number {
    return this.#pending.size;
  }

  compare(password: string, hash: string): Promise<boolean> {
    const w = this.#start();
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      w.ref();
      w.postMessage({ id, password, hash });
    });
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const bcrypt = createRequire(import.meta.url).resolve('bcryptjs');
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcrypt } });
    w.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
      this.#pending.get(id)?.(ok === true);
      this.#pending.delete(id);
      if (this.#pending.size === 0) w.unref();
    });
    const fail = () => {
      for (const r of this.#pending.values()) r(false);
      this.#pending.clear();
      if (this.#worker === w) this.#worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', fail);
    w.unref();
    this.#worker = w;
    return w;
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    await w?.terminate();
  }
}

/** Token bucket of failed attempts per client, bounded in clients. */
class FailureLimiter {
  readonly #clients = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly limits: AuthLimits,
    readonly now: () => number,
  ) {}

  #bucket(client: string) {
    const t = this.now();
    const b = this.#clients.get(client);
    if (b) {
      b.tokens = Math.min(this.limits.failureBurst, b.tokens + ((t - b.at) / 1000) * this.limits.failureRefillPerSecond);
      b.at = t;
    }
    return b;
  }

  allowed(client: string): boolean {
    const b = this.#bucket(client);
    return !b || b.tokens >= 1;
  }

  failed(client: string): void {
    let b = this.#bucket(client);
    if (!b) {
      if (this.#clients.size >= this.limits.maxClients) this.#clients.delete(this.#clients.keys().next().value!);
      b = { tokens: this.limits.failureBurst, at: this.now() };
      this.#clients.set(client, b);
    }
    b.tokens = Math.max(0, b.tokens - 1);
  }

  /** Seconds until the client may try again. */
  retryAfter(client: string): number {
    const b = this.#bucket(client);
    return b ? Math.max(1, Math.ceil((1 - b.tokens) / this.limits.failureRefillPerSecond)) : 0;
  }
}

/** "Basic xxx" in any case of the scheme name, as RFC 9110 says schemes are case-insensitive. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^basic[ \t]+([A-Za-z0-9+/=._~-]+)[ \t]*$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? undefined : { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export class BasicAuth {
  readonly #users: Map<string, string>;
  readonly #cache = new Set<string>();
  readonly #limiter: FailureLimiter;
  readonly limits: AuthLimits;

  constructor(
    users: Record<string, string>,
    readonly worker: Pick<BcryptWorker, 'compare' | 'queued'>,
    limits: Partial<AuthLimits> = {},
    readonly now: () => number = Date.now,
  ) {
    this.#users = new Map(Object.entries(users));
    this.limits = { ...DEFAULT_AUTH_LIMITS, ...limits };
    this.#limiter = new FailureLimiter(this.limits, now);
  }

  #budget?: { tokens: number; at: number };
  /** Global token bucket of bcrypt checks. */
  #verifyBudget(): boolean {
    const t = this.now();
    const max = 2 * this.limits.verifyPerSecond;
    const b = (this.#budget ??= { tokens: max, at: t });
    b.tokens = Math.min(max, b.tokens + ((t - b.at) / 1000) * this.limits.verifyPerSecond);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  retryAfter(client: string): number {
    return this.#limiter.retryAfter(client);
  }

  async check(header: string | undefined, client: string): Promise<AuthVerdict> {
    const creds = parseBasic(header);
    const hash = creds && this.#users.get(creds.user);
    // The cache key covers user, password and the configured hash, so a changed hash invalidates it.
    const cacheId =
      creds &&
      createHash('sha256')
        .update(`${creds.user}\0${creds.password}\0${hash ?? ''}`)
        .digest('base64');
    if (hash && cacheId && this.#cache.has(cacheId)) return 'ok';
    if (!this.#limiter.allowed(client)) return 'limited';
    if (!creds) {
      this.#limiter.failed(client);
      return 'denied';
    }
    if (this.worker.queued >= this.limits.maxQueue || !this.#verifyBudget()) return 'busy';
    // Unknown user: the same bcrypt work against a configured hash, its answer ignored.
    const against = hash ?? this.#users.values().next().value;
    const ok = against !== undefined && (await this.worker.compare(creds.password, against)) && hash !== undefined;
    if (!ok) {
      this.#limiter.failed(client);
      return 'denied';
    }
    if (this.#cache.size >= this.limits.cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.add(cacheId!);
    return 'ok';
  }
}
