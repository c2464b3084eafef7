// Name resolution for the HTTP client: 'system' is getaddrinfo (what the sender's own process
// sees); 'IP:PORT' asks that recursive resolver directly with a raw query. Both delegate to the DNS
// client so the synthetic and dns_drift probes resolve a host the same way.
import { isIP } from 'node:net';
import { unbracket } from '../../address.ts';
import { lookupVia } from '../dns/resolve.ts';

export interface ResolveOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** The addresses in the order the resolver gave them. Throws an Error with a readable message and a `code`. */
export async function resolveHost(resolver: string, host: string, opts: ResolveOptions = {}): Promise<string[]> {
  const bare = unbracket(host);
  if (isIP(bare)) return [bare];
  const r = await lookupVia(resolver, bare, opts);
  return r.addresses;
}
