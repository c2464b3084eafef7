// Raw DNS client: strict decoding (packet.ts), one question with retries and TCP fallback
// (query.ts), recursive / authoritative / getaddrinfo resolution and lookupVia (resolve.ts).
export * from './packet.ts';
export * from './query.ts';
export * from './resolve.ts';
