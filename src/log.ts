// pino with secret redaction. Secrets are Secret objects (which serialise as their reference), and
// these paths catch the usual places a raw credential could still slip into a log line.
import pino, { type Logger } from 'pino';
import { Writable } from 'node:stream';

export const REDACT_PATHS = [
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers["btcpay-sig"]',
  'connectionString',
  '*.connectionString',
];

export type LogFormat = 'json' | 'logfmt';

function logfmtValue(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s="]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

/** Turn pino's JSON lines into logfmt (level names, not numbers; time as ISO 8601). */
export function toLogfmt(line: string): string {
  const o = JSON.parse(line) as Record<string, unknown>;
  const parts: string[] = [];
  const lvl = typeof o.level === 'string' ? o.level : (pino.levels.labels[o.level as number] ?? String(o.level));
  parts.push(`ts=${new Date(o.time as number).toISOString()}`, `level=${lvl}`);
  for (const [k, v] of Object.entries(o)) {
    if (k === 'time' || k === 'level' || k === 'pid' || k === 'hostname') continue;
    parts.push(`${k}=${logfmtValue(v)}`);
  }
  return parts.join(' ');
}

function levelOf(line: string): number {
  const m = /"level":"(\w+)"/.exec(line);
  return (m && pino.levels.values[m[1]!]) ?? 30;
}

export interface LogOptions {
  level?: string;
  format?: LogFormat;
  /** Where lines go (default stderr). Tests pass a collecting stream. */
  destination?: NodeJS.WritableStream;
  /** Also keep lines in memory per run_id, for the HTML page's "last run log" link: each line as pino wrote it (JSON). */
  sink?: (line: string) => void;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const dest = opts.destination ?? process.stderr;
  const format = opts.format ?? 'json';
  const level = opts.level ?? 'info';
  // The per-run store keeps debug lines too (a run's log page always has its lines); the output
  // still gets only the configured level.
  const minOut = pino.levels.values[level] ?? 30;
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      for (const line of text.split('\n')) {
        if (!line) continue;
        if (opts.sink) {
          try {
            opts.sink(line);
          } catch {
            /* never let the in-memory log break logging */
          }
        }
        if (opts.sink && levelOf(line) < minOut) continue;
        dest.write((format === 'logfmt' ? toLogfmt(line) : line) + '\n');
      }
      cb();
    },
  });
  return pino(
    {
      level: opts.sink && minOut > pino.levels.values.debug! ? 'debug' : level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    out,
  );
}
