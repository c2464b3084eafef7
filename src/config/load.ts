// Load a YAML probe file into a validated LoadedConfig. Every problem is reported with the file,
// line and column, the key path (probes[2].interval), what was expected, and for typos the nearest
// valid key. Validation runs in stages so one bad probe does not hide errors in the others:
// YAML syntax, top-level keys, global, sources, each probe against its own kind's schema, the sources
// each probe names, secrets and config-relative paths (resolved after parsing), then the kinds' own
// cross-field checks.
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { GlobalConfig, LoadedConfig, ProbeBase, ProbeKind, SourceConfig, TestedDestinations } from '../probe/types.ts';
import { Secret } from '../secret.ts';
import { resolveDeferred, type ResolveEnv } from './deferred.ts';
import { ConfigError, IssueCollector, unknownKeyMessage } from './issues.ts';
import { YamlLocator, type Path } from './locate.ts';
import { readStable, UnstableFileError, type StableReadOptions } from './read.ts';
import { globalSchema, NAME_RE, probeSchema, sourceSchema } from './schema.ts';
import { closest } from './suggest.ts';

export { ConfigError, formatIssue, formatPath, type ConfigIssue } from './issues.ts';
export type { Path } from './locate.ts';

export interface LoadOptions {
  kinds: ReadonlyArray<ProbeKind>;
  env?: NodeJS.ProcessEnv;
  /** Name to show in messages (default: the path). */
  displayName?: string;
  /** How hard to try for a consistent read of a file being rewritten (see read.ts). */
  read?: StableReadOptions;
}

export function loadConfigFile(file: string, opts: LoadOptions): LoadedConfig {
  let text: string;
  try {
    text = readStable(file, opts.read);
  } catch (e) {
    const message = e instanceof UnstableFileError ? e.message : `cannot read config file (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new ConfigError([{ file, line: 0, column: 0, path: '', message }]);
  }
  return loadConfigText(text, { ...opts, file: resolve(file), displayName: opts.displayName ?? file });
}

const TOP_KEYS = ['global', 'sources', 'probes'];

/** What every stage shares: where problems go, how deferred values resolve, the secrets seen so far. */
interface Stage {
  issues: IssueCollector;
  env: ResolveEnv;
  secrets: Secret[];
}

export function loadConfigText(text: string, opts: LoadOptions & { file: string }): LoadedConfig {
  const { top, issues } = parseTopLevel(text, opts.displayName ?? opts.file);
  const stage: Stage = { issues, env: { env: opts.env ?? process.env, baseDir: dirname(opts.file) }, secrets: [] };
  const parsedGlobal = parseAt(stage, globalSchema, top.global ?? {}, ['global']);
  const global: GlobalConfig | undefined = parsedGlobal && {
    intervalMs: parsedGlobal.interval,
    timeoutMs: parsedGlobal.timeout,
    resolver: parsedGlobal.resolver,
  };
  const sources = parseSources(stage, top.sources);
  const written = top.sources && typeof top.sources === 'object' ? Object.keys(top.sources) : [];
  const probes = parseProbes(stage, top.probes, opts.kinds, global, (kind, p, base) => checkSources(stage, kind, p, base, sources, written));
  const destinations = testedDestinations(probes, opts.kinds);

  if (issues.count === 0 && global) {
    const partial = { file: opts.file, global, sources, probes, secrets: stage.secrets, destinations };
    probes.forEach((p, i) => {
      for (const v of kindOf(opts.kinds, p.type).validate?.(p, partial) ?? []) issues.add(['probes', i, ...v.key.split('.')], v.message);
    });
  }
  issues.throwIfAny(stage.secrets);
  return { file: opts.file, global: global!, sources, probes, secrets: stage.secrets, destinations };
}

/** The YAML document as a mapping, with its syntax errors (fatal) and unknown top-level keys reported. */
function parseTopLevel(text: string, file: string): { top: Record<string, unknown>; issues: IssueCollector } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false });
  const issues = new IssueCollector(file, new YamlLocator(doc, lineCounter));
  for (const err of doc.errors) issues.addAtOffset(err.pos[0], `YAML syntax error: ${err.message.split('\n')[0]}`);
  if (issues.count) throw new ConfigError(issues.issues);
  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: 'expected a mapping with keys global, sources, probes' }]);
  }
  const top = raw as Record<string, unknown>;
  for (const k of Object.keys(top)) if (!TOP_KEYS.includes(k)) issues.addKey([], k, unknownKeyMessage(k, TOP_KEYS));
  return { top, issues };
}

/** Parse one part with its schema, then resolve its secrets and paths; undefined when anything is wrong. */
function parseAt<S extends z.ZodType>(stage: Stage, schema: S, value: unknown, base: Path): z.infer<S> | undefined {
  const r = schema.safeParse(value, { reportInput: true });
  if (!r.success) {
    stage.issues.addZod(schema, base, r.error);
    return undefined;
  }
  const before = stage.issues.count;
  const data = resolveDeferred(r.data, stage.env, (path, message) => stage.issues.add([...base, ...path], message));
  collectSecrets(data, stage.secrets);
  return stage.issues.count === before ? data : undefined;
}

function parseSources(stage: Stage, value: unknown): Record<string, SourceConfig> {
  const sources: Record<string, SourceConfig> = {};
  if (value === undefined || value === null) return sources;
  if (typeof value !== 'object' || Array.isArray(value)) {
    stage.issues.add(['sources'], 'expected a mapping of source name to source settings');
    return sources;
  }
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    if (!NAME_RE.test(name)) stage.issues.addKey(['sources'], name, 'expected a source name of letters, digits and _.:-');
    const s = parseAt(stage, sourceSchema, entry, ['sources', name]);
    if (s) sources[name] = normalizeSource(name, s);
  }
  return sources;
}

function parseProbes(
  stage: Stage,
  value: unknown,
  kinds: ReadonlyArray<ProbeKind>,
  global: GlobalConfig | undefined,
  check: (kind: ProbeKind, p: Record<string, unknown>, base: Path) => void,
): LoadedConfig['probes'] {
  const probes: LoadedConfig['probes'] = [];
  if (!Array.isArray(value)) {
    stage.issues.add(['probes'], value === undefined ? 'missing required key: probes (a list of probe entries)' : 'expected a list of probe entries');
    return probes;
  }
  const seen = new Map<string, number>();
  value.forEach((entry: unknown, i) => {
    const base: Path = ['probes', i];
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      stage.issues.add(base, 'expected a mapping with at least name and type');
      return;
    }
    const e = entry as Record<string, unknown>;
    if (typeof e.name === 'string') {
      const prev = seen.get(e.name);
      if (prev !== undefined) stage.issues.add([...base, 'name'], `duplicate probe name "${e.name}" (first used by probes[${prev}])`);
      else seen.set(e.name, i);
    }
    const kind = kindFor(stage, e.type, kinds, base);
    const p = kind && parseAt<z.ZodType<Record<string, unknown>>>(stage, probeSchema(kind), e, base);
    if (!kind || !p) return;
    check(kind, p, base);
    probes.push(withDefaults(stage, kind, p, global, base));
  });
  return probes;
}

function kindFor(stage: Stage, type: unknown, kinds: ReadonlyArray<ProbeKind>, base: Path): ProbeKind | undefined {
  const names = kinds.map((k) => k.type);
  if (typeof type !== 'string') {
    const message = `missing or invalid probe type; known types: ${names.join(', ')}`;
    if (type === undefined) stage.issues.add([...base, 'type'], message, base);
    else stage.issues.addKey(base, 'type', message);
    return undefined;
  }
  const kind = kinds.find((k) => k.type === type);
  if (!kind) {
    const near = closest(type, names);
    stage.issues.add([...base, 'type'], `unknown probe type "${type}"${near ? ` (did you mean "${near}"?)` : ''}; known types: ${names.join(', ')}`);
  }
  return kind;
}

/** Interval, timeout and thresholds in effect: the probe's own, else the kind's default, else global. */
function withDefaults(
  stage: Stage,
  kind: ProbeKind,
  p: Record<string, unknown>,
  global: GlobalConfig | undefined,
  base: Path,
): ProbeBase & Record<string, unknown> {
  const intervalMs = (p.interval as number | undefined) ?? kind.defaultIntervalMs ?? global?.intervalMs ?? 60_000;
  const timeoutMs = (p.timeout as number | undefined) ?? kind.defaultTimeoutMs?.({ ...p, intervalMs }) ?? Math.min(global?.timeoutMs ?? 10_000, intervalMs);
  if (intervalMs <= 0) stage.issues.add([...base, 'interval'], 'interval must be greater than 0');
  if (timeoutMs <= 0) stage.issues.add([...base, 'timeout'], 'timeout must be greater than 0');
  const thresholds: Record<string, number> = {};
  for (const [k, def] of Object.entries(kind.thresholds ?? {})) thresholds[k] = typeof def.default === 'function' ? def.default({ intervalMs }) : def.default;
  for (const [k, v] of Object.entries((p.thresholds as Record<string, number | undefined>) ?? {})) if (v !== undefined) thresholds[k] = v;
  const { interval: _i, timeout: _t, thresholds: _th, ...own } = p;
  return { ...own, name: p.name as string, type: kind.type, intervalMs, timeoutMs, thresholds };
}

/** Each key a kind declares as naming a source must name a defined source of an accepted type. */
function checkSources(stage: Stage, kind: ProbeKind, p: Record<string, unknown>, base: Path, sources: Record<string, SourceConfig>, written: string[]): void {
  const defined = Object.keys(sources);
  for (const [key, accepted] of Object.entries(kind.sources ?? {})) {
    const name = p[key];
    if (typeof name !== 'string') continue;
    const s = sources[name];
    if (s && !accepted.includes(s.type))
      stage.issues.add([...base, key], `source "${name}" is of type ${s.type}; ${key} needs a ${accepted.join(' or ')} source`);
    else if (s?.type === 'btcpay' && s.stores && !kind.multiStore)
      stage.issues.add(
        [...base, key],
        `source "${name}" watches several stores (storeId: ${s.stores === 'all' ? 'all' : 'a list'}); ${kind.type} needs a source with one storeId`,
      );
    // A source that is written but invalid has its own error already.
    if (s || written.includes(name)) continue;
    const near = closest(name, defined);
    stage.issues.add([...base, key], `unknown source "${name}"${near ? ` (did you mean "${near}"?)` : ''}; defined sources: ${defined.join(', ') || 'none'}`);
  }
}

/** The receiver URLs that probes of destination-testing kinds test, with their hosts. */
export function testedDestinations(probes: ReadonlyArray<ProbeBase & Record<string, unknown>>, kinds: ReadonlyArray<ProbeKind>): TestedDestinations {
  const out: TestedDestinations = { probes: [], targets: [] };
  for (const p of probes) {
    const kind = kinds.find((k) => k.type === p.type);
    if (!kind?.destinations) continue;
    out.probes.push(p.name);
    for (const url of kind.destinations(p)) {
      try {
        out.targets.push({ probe: p.name, url, host: new URL(url).hostname.toLowerCase() });
      } catch {
        /* an invalid URL is the owning probe's validation problem */
      }
    }
  }
  return out;
}

function kindOf(kinds: ReadonlyArray<ProbeKind>, type: string): ProbeKind {
  const kind = kinds.find((k) => k.type === type);
  if (!kind) throw new Error(`no probe kind ${type}`);
  return kind;
}

function normalizeSource(name: string, s: z.infer<typeof sourceSchema>): SourceConfig {
  switch (s.type) {
    case 'btcpay':
      return {
        name,
        type: 'btcpay',
        url: s.url.replace(/\/+$/, ''),
        apiKey: s.apiKey,
        timeoutMs: s.timeout,
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
