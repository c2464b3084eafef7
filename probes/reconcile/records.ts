// Reading the internal system's records: an http-json endpoint or a read-only PostgreSQL query.
// Both yield the same normalised rows; bad rows are counted, not fatal.
import { httpRequest } from '../../src/clients/http/index.ts';
import type { SourceConfig } from '../../src/probe/types.ts';

export interface InternalRecord {
  id: string;
  amount?: string;
  currency?: string;
  /** ms since epoch, when the record says. */
  timeMs?: number;
}

export interface RecordsResult {
  records: InternalRecord[];
  /** Rows without a usable id. */
  skipped: number;
}

export class RecordsError extends Error {}

type HttpJson = Extract<SourceConfig, { type: 'http-json' }>;
type Postgres = Extract<SourceConfig, { type: 'postgres' }>;

/** Unix seconds or ms, a numeric string, an ISO string, or a Date. */
export function parseTime(v: unknown): number | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.getTime();
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e11 ? v * 1000 : v;
  if (typeof v === 'string' && v.trim() !== '') {
    if (/^\d+(\.\d+)?$/.test(v.trim())) return parseTime(Number(v));
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

function at(obj: unknown, path: string): unknown {
  if (path === '') return obj;
  let cur = obj;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

const scalar = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined);

function normalise(rows: unknown[], get: (row: unknown, key: 'id' | 'amount' | 'currency' | 'time') => unknown): RecordsResult {
  const records: InternalRecord[] = [];
  let skipped = 0;
  for (const row of rows) {
    const id = scalar(get(row, 'id'));
    if (!id) {
      skipped++;
      continue;
    }
    records.push({ id, amount: scalar(get(row, 'amount')), currency: scalar(get(row, 'currency')), timeMs: parseTime(get(row, 'time')) });
  }
  return { records, skipped };
}

export async function fetchHttpJson(
  src: HttpJson,
  sinceMs: number,
  untilMs: number,
  o: { resolver: string; timeoutMs: number; signal: AbortSignal },
): Promise<RecordsResult> {
  const url = src.url
    .split('{since}')
    .join(String(Math.floor(sinceMs / 1000)))
    .split('{until}')
    .join(String(Math.floor(untilMs / 1000)));
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'hookwatch-reconcile/0.1' };
  for (const [k, v] of Object.entries(src.headers)) headers[k.toLowerCase()] = typeof v === 'string' ? v : v.reveal();
  const max = 32 * 1024 * 1024;
  const r = await httpRequest({
    url,
    method: 'GET',
    headers,
    resolver: o.resolver,
    connectTimeoutMs: o.timeoutMs,
    responseTimeoutMs: o.timeoutMs,
    signal: o.signal,
    maxBodyBytes: max + 1,
  });
  if (!r.ok) throw new RecordsError(`${r.failure?.message ?? 'request failed'}`);
  if ((r.body?.length ?? 0) > max) throw new RecordsError(`response larger than 32 MiB; narrow the window`);
  let doc: unknown;
  try {
    doc = JSON.parse(r.body ?? '');
  } catch {
    throw new RecordsError(`response is not JSON (HTTP ${r.status})`);
  }
  const items = at(doc, src.itemsPath);
  if (!Array.isArray(items)) throw new RecordsError(`no array at itemsPath "${src.itemsPath}"`);
  const f = src.fields;
  const paths = { id: f.id, amount: f.amount, currency: f.currency, time: f.time };
  return normalise(items, (row, key) => (paths[key] ? at(row, paths[key]) : undefined));
}

export async function fetchPostgres(src: Postgres, sinceMs: number, untilMs: number, o: { timeoutMs: number; signal: AbortSignal }): Promise<RecordsResult> {
  // Loaded on first use: configs without a PostgreSQL source never pay for pg at start or in memory.
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    host: src.host,
    port: src.port,
    database: src.database,
    user: src.user,
    password: src.password?.reveal(),
    ssl: src.ssl ? { rejectUnauthorized: true } : false,
    application_name: 'hookwatch-reconcile',
    connectionTimeoutMillis: o.timeoutMs,
    statement_timeout: o.timeoutMs,
    query_timeout: o.timeoutMs,
    // Belt and braces with BEGIN READ ONLY: every transaction of this session is read-only.
    options: '-c default_transaction_read_only=on',
  });
  const onAbort = () => void client.end().catch(() => undefined);
  o.signal.addEventListener('abort', onAbort, { once: true });
  // pg emits 'error' on the client for a dropped connection; without a listener it would crash the agent.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('BEGIN READ ONLY');
    const res = await client.query(src.query, [new Date(sinceMs), new Date(untilMs)]);
    await client.query('COMMIT');
    return normalise(res.rows, (row, key) => (row as Record<string, unknown>)[key]);
  } catch (e) {
    throw new RecordsError(`postgres ${src.host}:${src.port}/${src.database} as ${src.user}: ${(e as Error).message}`);
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    await client.end().catch(() => undefined);
  }
}
