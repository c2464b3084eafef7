// Load a YAML probe file into a validated LoadedConfig. Every problem is reported with the file,
// line and column, the key path (probes[2].interval), what was expected, and for typos the nearest
// valid key. Validation runs in stages so one bad probe does not hide errors in the others, and a
// probe's keys are checked against its own kind's schema.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import type { LoadedConfig, ProbeBase, ProbeKind, SourceConfig } from '../probe/types.ts';
import { Secret, scrub } from './secret.ts';
import { globalSchema, NAME_RE, probeSchema, sourceSchema } from './schema.ts';
import { secretEnv } from './schema-helpers.ts';
import { closest } from './suggest.ts';

export type Path = Array<string | number>;

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

export function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

export interface LoadOptions {
  kinds: ReadonlyArray<ProbeKind>;
  env?: NodeJS.ProcessEnv;
  /** Name to show in messages (default: the path). */
  displayName?: string;
}

export function loadConfigFile(file: string, opts: LoadOptions): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ file, line: 0, column: 0, path: '', message: `cannot read config file (${code})` }]);
  }
  return loadConfigText(text, { ...opts, file: resolve(file), displayName: opts.displayName ?? file });
}

/** Walk a zod schema along a path to list the keys valid at that object (for "did you mean"). */
function keysAt(schema: z.ZodType, path: Path): string[] {
  const unwrap = (s: unknown): unknown[] => {
    const def = (s as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
    if (!def) return [];
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
        return unwrap(def.innerType);
      case 'pipe':
        return unwrap(def.in);
      case 'union':
        return (def.options as unknown[]).flatMap(unwrap);
      default:
        return [s];
    }
  };
  let candidates = unwrap(schema);
  for (const p of path) {
    const next: unknown[] = [];
    for (const c of candidates) {
      const def = (c as { _zod: { def: Record<string, unknown> } })._zod.def;
      if (def.type === 'object' && typeof p === 'string') next.push(...unwrap((def.shape as Record<string, unknown>)[p]));
      else if (def.type === 'array' && typeof p === 'number') next.push(...unwrap(def.element));
      else if (def.type === 'record' && typeof p === 'string') next.push(...unwrap(def.valueType));
    }
    candidates = next;
  }
  const keys = new Set<string>();
  for (const c of candidates) {
    const def = (c as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (def.type === 'object') for (const k of Object.keys(def.shape as object)) keys.add(k);
  }
  return [...keys];
}

export function loadConfigText(text: string, opts: LoadOptions & { file: string }): LoadedConfig {
  const file = opts.displayName ?? opts.file;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false });
  const issues: ConfigIssue[] = [];
  const at = (offset: number | undefined) => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return { line, column: col };
  };

  for (const err of doc.errors) {
    issues.push({ file, ...at(err.pos[0]), path: '', message: `YAML syntax error: ${err.message.split('\n')[0]}` });
  }
  if (issues.length) throw new ConfigError(issues);

  /** Position of the node at `path` (or of the key itself when `key` is set); falls back to the nearest parent. */
  const position = (path: Path, key?: string) => {
    const parentPath = key !== undefined ? path : path.slice(0, -1);
    const last = key ?? path[path.length - 1];
    for (let n = parentPath.length; n >= 0; n--) {
      const parent = n === 0 ? doc.contents : (doc.getIn(parentPath.slice(0, n), true) as YamlNode | undefined);
      if (n === parentPath.length && last !== undefined && isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === last);
        if (pair) {
          const target = key !== undefined ? pair.key : (pair.value ?? pair.key);
          return at((target as YamlNode).range?.[0]);
        }
      }
      if (n === parentPath.length && typeof last === 'number' && isSeq(parent)) {
        const item = parent.items[last] as YamlNode | undefined;
        if (item?.range) return at(item.range[0]);
      }
      if (parent && (parent as YamlNode).range) return at((parent as YamlNode).range![0]);
    }
    return at(0);
  };

  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const secrets: Secret[] = [];
  const report = (schema: z.ZodType, base: Path, error: z.ZodError) => {
    for (const iss of error.issues) {
      const path = [...base, ...(iss.path as Path)];
      if (iss.code === 'unrecognized_keys') {
        const valid = keysAt(schema, iss.path as Path);
        for (const k of iss.keys) {
          const near = closest(k, valid);
          issues.push({
            file,
            ...position(path, k),
            path: formatPath([...path, k]),
            message: `unknown key "${k}"${near ? ` (did you mean "${near}"?)` : ''}; ${valid.length ? `valid keys here: ${valid.join(', ')}` : 'no keys are valid here'}`,
          });
        }
        continue;
      }
      let message = iss.message;
      const missing = iss.code === 'invalid_type' && iss.input === undefined;
      // Never keep the offending value itself: it may be a secret pasted in the wrong place.
      delete (iss as { input?: unknown }).input;
      if (missing) message = `missing required key: ${message.replace(/^Invalid input: /, '')}`;
      issues.push({ file, ...position(path), path: formatPath(path), message });
    }
  };

  /** Parse with secrets resolved from opts.env, relative paths from the config's folder. */
  const parse = <S extends z.ZodType>(schema: S, value: unknown, base: Path): z.infer<S> | undefined => {
    const saved = { ...secretEnv };
    secretEnv.env = opts.env ?? process.env;
    secretEnv.baseDir = dirname(opts.file);
    try {
      const r = schema.safeParse(value, { reportInput: true });
      if (!r.success) {
        report(schema, base, r.error);
        return undefined;
      }
      collectSecrets(r.data, secrets);
      return r.data;
    } finally {
      Object.assign(secretEnv, saved);
    }
  };

  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: 'expected a mapping with keys global, sources, probes' }]);
  }
  const top = raw as Record<string, unknown>;
  const TOP_KEYS = ['global', 'sources', 'probes'];
  for (const k of Object.keys(top)) {
    if (!TOP_KEYS.includes(k)) {
      const near = closest(k, TOP_KEYS);
      issues.push({ file, ...position([], k), path: k, message: `unknown key "${k}"${near ? ` (did you mean "${near}"?)` : ''}; valid keys here: ${TOP_KEYS.join(', ')}` });
    }
  }

  const global = parse(globalSchema, top.global ?? {}, ['global']);

  const sources: Record<string, SourceConfig> = {};
  if (top.sources !== undefined && top.sources !== null) {
    if (typeof top.sources !== 'object' || Array.isArray(top.sources)) {
      issues.push({ file, ...position(['sources']), path: 'sources', message: 'expected a mapping of source name to source settings' });
    } else {
      for (const [name, value] of Object.entries(top.sources as Record<string, unknown>)) {
        if (!NAME_RE.test(name)) issues.push({ file, ...position(['sources'], name), path: `sources.${name}`, message: 'expected a source name of letters, digits and _.:-' });
        const s = parse(sourceSchema, value, ['sources', name]);
        if (s) sources[name] = normalizeSource(name, s);
      }
    }
  }

  const probes: LoadedConfig['probes'] = [];
  if (!Array.isArray(top.probes)) {
    issues.push({ file, ...position(['probes']), path: 'probes', message: top.probes === undefined ? 'missing required key: probes (a list of probe entries)' : 'expected a list of probe entries' });
  } else {
    const seen = new Map<string, number>();
    const kindNames = opts.kinds.map((k) => k.type);
    top.probes.forEach((entry, i) => {
      const base: Path = ['probes', i];
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        issues.push({ file, ...position(base), path: formatPath(base), message: 'expected a mapping with at least name and type' });
        return;
      }
      const e = entry as Record<string, unknown>;
      if (typeof e.name === 'string') {
        const prev = seen.get(e.name);
        if (prev !== undefined) {
          issues.push({ file, ...position([...base, 'name']), path: formatPath([...base, 'name']), message: `duplicate probe name "${e.name}" (first used by probes[${prev}])` });
        } else seen.set(e.name, i);
      }
      if (typeof e.type !== 'string') {
        issues.push({ file, ...position(base, e.type === undefined ? undefined : 'type'), path: formatPath([...base, 'type']), message: `missing or invalid probe type; known types: ${kindNames.join(', ')}` });
        return;
      }
      const kind = opts.kinds.find((k) => k.type === e.type);
      if (!kind) {
        const near = closest(e.type, kindNames);
        issues.push({ file, ...position([...base, 'type']), path: formatPath([...base, 'type']), message: `unknown probe type "${e.type}"${near ? ` (did you mean "${near}"?)` : ''}; known types: ${kindNames.join(', ')}` });
        return;
      }
      const schema = probeSchema(kind);
      const p = parse(schema, e, base) as Record<string, unknown> | undefined;
      if (!p) return;
      for (const ref of ['source', 'records'] as const) {
        const v = p[ref];
        if (typeof v === 'string' && !sources[v] && !(top.sources && typeof top.sources === 'object' && v in (top.sources as object))) {
          const near = closest(v, Object.keys(sources));
          issues.push({ file, ...position([...base, ref]), path: formatPath([...base, ref]), message: `unknown source "${v}"${near ? ` (did you mean "${near}"?)` : ''}; defined sources: ${Object.keys(sources).join(', ') || 'none'}` });
        }
      }
      const intervalMs = (p.interval as number | undefined) ?? kind.defaultIntervalMs ?? global?.interval ?? 60_000;
      const timeoutMs =
        (p.timeout as number | undefined) ?? kind.defaultTimeoutMs?.({ ...p, intervalMs } as never) ?? Math.min(global?.timeout ?? 10_000, intervalMs);
      if (intervalMs <= 0) issues.push({ file, ...position([...base, 'interval']), path: formatPath([...base, 'interval']), message: 'interval must be greater than 0' });
      if (timeoutMs <= 0) issues.push({ file, ...position([...base, 'timeout']), path: formatPath([...base, 'timeout']), message: 'timeout must be greater than 0' });
      const thresholds: Record<string, number> = {};
      for (const [k, def] of Object.entries(kind.thresholds ?? {})) thresholds[k] = typeof def.default === 'function' ? def.default({ intervalMs }) : def.default;
      for (const [k, v] of Object.entries((p.thresholds as Record<string, number | undefined>) ?? {})) if (v !== undefined) thresholds[k] = v;
      const { interval: _i, timeout: _t, thresholds: _th, ...own } = p;
      probes.push({ ...own, name: p.name as string, type: kind.type, intervalMs, timeoutMs, thresholds } as ProbeBase & Record<string, unknown>);
    });
  }

  const globalConfig = global && { intervalMs: global.interval, timeoutMs: global.timeout, resolver: global.resolver };
  if (issues.length === 0 && globalConfig) {
    const partial = { file: opts.file, global: globalConfig, sources, probes, secrets };
    probes.forEach((p, i) => {
      const kind = opts.kinds.find((k) => k.type === p.type)!;
      for (const v of kind.validate?.(p as never, partial) ?? []) {
        const path: Path = ['probes', i, ...v.key.split('.')];
        issues.push({ file, ...position(path), path: formatPath(path), message: v.message });
      }
    });
  }

  if (issues.length) {
    for (const i of issues) i.message = scrub(i.message, secrets);
    throw new ConfigError(issues);
  }
  return {
    file: opts.file,
    global: globalConfig!,
    sources,
    probes,
    secrets,
  };
}

function normalizeSource(name: string, s: z.infer<typeof sourceSchema>): SourceConfig {
  switch (s.type) {
    case 'btcpay':
      return {
        name, type: 'btcpay', url: s.url.replace(/\/+$/, ''), apiKey: s.apiKey, timeoutMs: s.timeout,
        ...(typeof s.storeId === 'string' && s.storeId !== 'all'
          ? { storeId: s.storeId }
          : { storeId: '', stores: s.storeId === 'all' ? ('all' as const) : [...new Set(s.storeId)] }),
        ...(s.maxStores !== undefined ? { maxStores: s.maxStores } : {}),
        ...(s.requestBudget !== undefined ? { requestBudget: s.requestBudget } : {}),
        ...(s.discoveryInterval !== undefined ? { discoveryIntervalMs: s.discoveryInterval } : {}),
        ...(s.maxStaleness !== undefined ? { maxStalenessMs: s.maxStaleness } : {}),
        ...(s.quietAfter !== undefined ? { quietAfterMs: s.quietAfter } : {}),
        ...(s.storeConcurrency !== undefined ? { storeConcurrency: s.storeConcurrency } : {}),
      };
    case 'http-json':
      return { name, type: 'http-json', url: s.url, headers: s.headers, itemsPath: s.itemsPath, fields: s.fields };
    case 'postgres':
      return { name, type: 'postgres', host: s.host, port: s.port, database: s.database, user: s.user, password: s.password, ssl: s.ssl, query: s.query };
  }
}

function collectSecrets(v: unknown, out: Secret[], depth = 0): void {
  if (depth > 20 || v === null || typeof v !== 'object') return;
  if (v instanceof Secret) {
    out.push(v);
    return;
  }
  for (const x of Array.isArray(v) ? v : Object.values(v)) collectSecrets(x, out, depth + 1);
}
