// The parts of undici the agent uses (a Client with our own connector, and `request`), loaded from undici's own
// modules of the installed version. Its package entry loads everything else too (fetch, WebSocket, caches,
// proxies, mocks): about 3 MB of heap and 4 MiB of resident memory that an idle agent never uses
// (bench/footprint.ts). Types come from undici's declarations; nothing here changes its behaviour.
import type { Dispatcher, Client as ClientType } from 'undici';
import ClientImpl from 'undici/lib/dispatcher/client.js';
import DispatcherImpl from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';
import { getGlobalDispatcher } from 'undici/lib/global.js';

// What undici's entry does once: give every dispatcher its request/stream/pipeline methods.
if (!('request' in DispatcherImpl.prototype)) Object.assign(DispatcherImpl.prototype, api);

export const Client: typeof ClientType = ClientImpl;

type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> &
  Partial<Pick<Dispatcher.RequestOptions, 'method'>> & { dispatcher?: Dispatcher };

/** undici's top-level `request(url, options)`: the URL split into origin and path, on the given or global dispatcher. */
export function request(url: string | URL, opts: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher = getGlobalDispatcher(), ...rest } = opts;
  return dispatcher.request({ ...rest, origin: u.origin, path: `${u.pathname}${u.search}`, method: rest.method ?? 'GET' });
}
