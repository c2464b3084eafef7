// Name resolution for the HTTP client. 'system' is getaddrinfo (what the sender's own process
// sees); 'IP:PORT' asks that recursive resolver directly.
// The raw-query DNS client (src/clients/dns) is written in parallel; when it exposes
// lookupVia(resolver, host, {signal, timeoutMs}) this can delegate to it. Until then node's
// c-ares Resolver with setServers does the 'IP:PORT' case.
import { lookup } from 'node:dns/promises';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface ResolveOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Returns the addresses in the order the resolver gave them. Throws an Error with a readable message. */
export async function resolveHost(resolver: string, host: string, opts: ResolveOptions = {}): Promise<string[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare)) return [bare];
  if (resolver === 'system') {
    const res = await withAbort(lookup(bare, { all: true }), opts);
    return res.map((r) => r.address);
  }
  const r = new Resolver({ timeout: Math.max(100, opts.timeoutMs ?? 5000), tries: 1 });
  r.setServers([resolver]);
  const onAbort = () => r.cancel();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const v4 = await r.resolve4(bare).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENODATA' || e.code === 'ENOTFOUND') return [] as string[];
      throw e;
    });
    if (v4.length > 0) return v4;
    return await r.resolve6(bare);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

function withAbort<T>(p: Promise<T>, opts: ResolveOptions): Promise<T> {
  if (!opts.signal && !opts.timeoutMs) return p;
  return new Promise<T>((resolve, reject) => {
    const timer = opts.timeoutMs ? setTimeout(() => reject(new Error(`resolution timed out after ${opts.timeoutMs}ms`)), opts.timeoutMs) : undefined;
    const onAbort = () => reject(new Error('resolution aborted'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    });
  });
}
