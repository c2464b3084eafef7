// Listening, with the exporter-toolkit web config (TLS + basic auth with bcrypt hashes), so the
// agent can sit behind the same security settings as every other Prometheus exporter.
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type Server, type RequestListener } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { dirname, isAbsolute, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
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
    tls: t ? { cert: readFileSync(rel(t.cert_file)), key: readFileSync(rel(t.key_file)), ca: t.client_ca_file ? readFileSync(rel(t.client_ca_file)) : undefined } : undefined,
    users: r.data.basic_auth_users,
    headers: r.data.http_server_config?.headers,
  };
}

/** Basic-auth check; bcrypt results are cached per header value so scrapes stay cheap. */
export function basicAuth(users: Record<string, string>): (header: string | undefined) => boolean {
  const cache = new Map<string, boolean>();
  return (header) => {
    if (!header?.startsWith('Basic ')) return false;
    const hit = cache.get(header);
    if (hit !== undefined) return hit;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const user = i >= 0 ? decoded.slice(0, i) : decoded;
    const hash = users[user];
    const ok = hash !== undefined && i >= 0 && bcrypt.compareSync(decoded.slice(i + 1), hash);
    if (cache.size > 100) cache.clear();
    cache.set(header, ok);
    return ok;
  };
}

export async function listen(handler: RequestListener, address: string, web?: WebConfig): Promise<Server> {
  const { host, port } = parseListenAddress(address);
  const check = web?.users ? basicAuth(web.users) : undefined;
  const wrapped: RequestListener = (req, res) => {
    for (const [k, v] of Object.entries(web?.headers ?? {})) res.setHeader(k, v);
    if (check && !check(req.headers.authorization)) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="hookwatch"', 'Content-Type': 'text/plain' });
      res.end('Unauthorized\n');
      return;
    }
    handler(req, res);
  };
  const server = web?.tls
    ? createHttps({ cert: web.tls.cert, key: web.tls.key, ca: web.tls.ca, requestCert: !!web.tls.ca, rejectUnauthorized: !!web.tls.ca }, wrapped)
    : createHttp(wrapped);
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => {
      server.off('error', rej);
      res();
    });
  });
  return server;
}
