// Config problems, collected rather than thrown one by one, so a single `check` lists every mistake
// with file:line:column, the key path (probes[2].interval) and, for typos, the nearest valid key.
import type { z } from 'zod';
import { scrub, type Secret } from '../secret.ts';
import type { Path, YamlLocator } from './locate.ts';
import { closest } from './suggest.ts';

export type { Path } from './locate.ts';

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

/** "unknown key" with a did-you-mean and the valid keys. */
export function unknownKeyMessage(key: string, valid: readonly string[]): string {
  const near = closest(key, valid);
  return `unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}; ${valid.length ? `valid keys here: ${valid.join(', ')}` : 'no keys are valid here'}`;
}

export class IssueCollector {
  readonly issues: ConfigIssue[] = [];

  constructor(
    readonly file: string,
    private readonly locate: YamlLocator,
  ) {}

  get count(): number {
    return this.issues.length;
  }

  /** A problem with the value at `path`, located at that value (or at `locateAt`), or its nearest existing parent. */
  add(path: Path, message: string, locateAt: Path = path): void {
    this.issues.push({ file: this.file, ...this.locate.value(locateAt), path: formatPath(path), message });
  }

  /** A problem at a character offset of the text (YAML syntax errors: there is no key path yet). */
  addAtOffset(offset: number, message: string): void {
    this.issues.push({ file: this.file, ...this.locate.at(offset), path: '', message });
  }

  /** A problem with the key `key` itself (unknown, duplicate), located at the key. */
  addKey(parent: Path, key: string, message: string): void {
    this.issues.push({ file: this.file, ...this.locate.key(parent, key), path: formatPath([...parent, key]), message });
  }

  /** zod's issues for a value parsed at `base`. Offending values are never echoed: one may be a misplaced secret. */
  addZod(schema: z.ZodType, base: Path, error: z.ZodError): void {
    for (const iss of error.issues) {
      const path = [...base, ...(iss.path as Path)];
      if (iss.code === 'unrecognized_keys') {
        const valid = keysAt(schema, iss.path as Path);
        for (const k of iss.keys) this.addKey(path, k, unknownKeyMessage(k, valid));
        continue;
      }
      const missing = iss.code === 'invalid_type' && iss.input === undefined;
      delete (iss as { input?: unknown }).input;
      this.add(path, missing ? `missing required key: ${iss.message.replace(/^Invalid input: /, '')}` : iss.message);
    }
  }

  /** Throw everything collected, with any secret value that slipped into a message replaced by its reference. */
  throwIfAny(secrets: readonly Secret[]): void {
    if (!this.issues.length) return;
    for (const i of this.issues) i.message = scrub(i.message, secrets);
    throw new ConfigError(this.issues);
  }
}

type ZodDef = Record<string, unknown> & { type?: string };
const defOf = (s: unknown): ZodDef | undefined => (s as { _zod?: { def?: ZodDef } } | undefined)?._zod?.def;

/** The schemas a wrapper (optional, default, pipe, union...) stands for. */
function unwrap(s: unknown): unknown[] {
  const def = defOf(s);
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
}

/** Walk a zod schema along a path to list the keys valid at that object (for "did you mean"). */
export function keysAt(schema: z.ZodType, path: Path): string[] {
  let candidates = unwrap(schema);
  for (const p of path) {
    const next: unknown[] = [];
    for (const c of candidates) {
      const def = defOf(c);
      if (def?.type === 'object' && typeof p === 'string') next.push(...unwrap((def.shape as Record<string, unknown>)[p]));
      else if (def?.type === 'array' && typeof p === 'number') next.push(...unwrap(def.element));
      else if (def?.type === 'record' && typeof p === 'string') next.push(...unwrap(def.valueType));
    }
    candidates = next;
  }
  const keys = new Set<string>();
  for (const c of candidates) {
    const def = defOf(c);
    if (def?.type === 'object') for (const k of Object.keys(def.shape as object)) keys.add(k);
  }
  return [...keys];
}
