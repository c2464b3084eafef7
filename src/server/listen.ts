// Listening, with the exporter-toolkit web config (TLS + basic auth with bcrypt hashes), so the
// agent can sit behind the same security settings as every other Prometheus exporter. How wrong
// passwords are kept from stalling the agent is in auth.ts.
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type Server, type RequestListener } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { dirname, isAbsolute, resolve } from 'node:path';
import { BasicAuth, BcryptWorker, type AuthLimits } from './auth.ts';
import { parse } from 'yaml';
import { z } from 'zod';
import { parseListenAddress } from '../address.ts';

const webConfigSchema = z.strictObject({
  tls_server_config: z
    .strictObject({ cert_file: z.string(), key_file: z.string(), client_ca_file: z.string().optional(), min_version: z.string().optional() })
    .optional(),
  http_server_config: z.strictObject({ headers: z.record(z.string(), z.string()).optional() }).optional(),
  basic_auth_users: z.record(z.string(), z.string().regex(/^\$2[aby]\$/, 'expected a bcrypt hash')).optional(),
});

export interface WebConfig {
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  users?: Record<string, string>;
  headers?: Record<string, string>;
}

export function loadWebConfig(file: string): WebConfig {
  const raw: unknown = parse(readFileSync(file, 'utf8')) ?? {};
  const r = webConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new Error(`${file}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const rel = (p: string) => (isAbsolute(p) ? p : resolve(dirname(file), p));
  const t = r.data.tls_server_config;
  return {
    tls: t
      ? { cert: readFileSync(rel(t.cert_file)), key: readFileSync(rel(t.key_file)), ca: t.client_ca_file ? readFileSync(rel(t.client_ca_file)) : undefined }
      : undefined,
    users: r.data.basic_auth_users,
    headers: r.data.http_server_config?.headers,
  };
}

/**
 * The web config in force, re-read on reload (SIGHUP or /-/reload) without a restart. A bad file
 * keeps the previous settings; the caller reports the failure.
 */
export class WebSettings {
  readonly worker = new BcryptWorker();
  #config: WebConfig;
  #auth?: BasicAuth;
  #onChange?: (c: WebConfig) => void;

  constructor(
    readonly file?: string,
    readonly limits: Partial<AuthLimits> = {},
  ) {
    this.#config = file ? loadWebConfig(file) : {};
    this.#auth = this.#makeAuth();
  }

  #makeAuth(): BasicAuth | undefined {
    return this.#config.users && Object.keys(this.#config.users).length ? new BasicAuth(this.#config.users, this.worker, this.limits) : undefined;
  }

  get config(): WebConfig {
    return this.#config;
  }

  get auth(): BasicAuth | undefined {
    return this.#auth;
  }

  /** Re-read the file; throws (keeping the old settings) when it is invalid. */
  reload(): boolean {
    if (!this.file) return false;
    const next = loadWebConfig(this.file);
    if (!!next.tls !== !!this.#config.tls) throw new Error(`${this.file}: switching TLS on or off needs a restart`);
    this.#config = next;
    this.#auth = this.#makeAuth();
    this.#onChange?.(next);
    return true;
  }

  onChange(f: (c: WebConfig) => void): void {
    this.#onChange = f;
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}

export async function listen(handler: RequestListener, address: string, web: WebSettings = new WebSettings()): Promise<Server> {
  const { host, port } = parseListenAddress(address);
  const wrapped: RequestListener = (req, res) => {
    for (const [k, v] of Object.entries(web.config.headers ?? {})) res.setHeader(k, v);
    const auth = web.auth;
    if (!auth) return handler(req, res);
    const client = req.socket.remoteAddress ?? 'unknown';
    const refuse = (status: number, text: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
      res.end(text);
    };
    auth.check(req.headers.authorization, client).then(
      (verdict) => {
        if (verdict === 'ok') handler(req, res);
        else if (verdict === 'limited') refuse(429, 'Too many failed login attempts\n', { 'Retry-After': String(auth.retryAfter(client)) });
        else if (verdict === 'busy') refuse(503, 'Too many login attempts in progress\n', { 'Retry-After': '1' });
        else refuse(401, 'Unauthorized\n', { 'WWW-Authenticate': 'Basic realm="hookwatch"' });
      },
      () => refuse(500, 'Internal Server Error\n'),
    );
  };
  const tls = web.config.tls;
  const server = tls
    ? createHttps({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: !!tls.ca, rejectUnauthorized: !!tls.ca }, wrapped)
    : createHttp(wrapped);
  web.onChange((c) => {
    if (c.tls && 'setSecureContext' in server) server.setSecureContext({ cert: c.tls.cert, key: c.tls.key, ca: c.tls.ca });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => {
      server.off('error', rej);
      res();
    });
  });
  return server;
}
