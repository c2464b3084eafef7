// Declarations for the undici modules src/clients/undici.ts loads directly (undici types only its package entry).
declare module 'undici/lib/dispatcher/client.js' {
  import type { Client } from 'undici';
  const ClientImpl: typeof Client;
  export default ClientImpl;
}
declare module 'undici/lib/dispatcher/dispatcher.js' {
  import type { Dispatcher } from 'undici';
  const DispatcherImpl: typeof Dispatcher;
  export default DispatcherImpl;
}
declare module 'undici/lib/api/index.js' {
  const api: Record<string, unknown>;
  export default api;
}
declare module 'undici/lib/global.js' {
  import type { Dispatcher } from 'undici';
  export function getGlobalDispatcher(): Dispatcher;
}
