// Values a schema cannot compute from the YAML alone: secrets (read from a file or the environment) and
// paths relative to the config file. The schema leaves a Deferred where such a value goes; after parsing,
// resolveDeferred() walks the result once with the loader's environment and puts the value in its place,
// or reports the problem at that key path. No module-level state: two loads never see each other's env.
import type { Path } from './locate.ts';

export interface ResolveEnv {
  env: NodeJS.ProcessEnv;
  /** Folder of the config file; relative paths in the config are relative to it. */
  baseDir: string;
}

export type Resolved<T> = { value: T } | { error: string };

class Deferred<T> {
  constructor(readonly resolve: (env: ResolveEnv) => Resolved<T>) {}
}

/**
 * A placeholder for a value of type T, resolved by resolveDeferred(). Typed as T so schemas infer the
 * resolved type; the loader never hands out a config before resolving it.
 */
export function deferred<T>(resolve: (env: ResolveEnv) => Resolved<T>): T {
  return new Deferred(resolve) as unknown as T;
}

const MAX_DEPTH = 20;

/**
 * Replace every Deferred inside `value` (in place) with its resolved value. Problems go to `onIssue` with
 * the path below `value`; without `onIssue` the first problem throws (for tests and one-off parsing).
 */
export function resolveDeferred<T>(value: T, env: ResolveEnv, onIssue?: (path: Path, message: string) => void): T {
  const report =
    onIssue ??
    ((path: Path, message: string) => {
      throw new Error(`${path.join('.')}: ${message}`);
    });
  const visit = (v: unknown, path: Path): unknown => {
    if (v instanceof Deferred) {
      const r = (v as Deferred<unknown>).resolve(env);
      if ('error' in r) {
        report(path, r.error);
        return undefined;
      }
      return r.value;
    }
    if (v === null || typeof v !== 'object' || path.length > MAX_DEPTH || Object.getPrototypeOf(v) !== (Array.isArray(v) ? Array.prototype : Object.prototype))
      return v;
    if (Array.isArray(v)) v.forEach((x, i) => (v[i] = visit(x, [...path, i])));
    else for (const [k, x] of Object.entries(v)) (v as Record<string, unknown>)[k] = visit(x, [...path, k]);
    return v;
  };
  return visit(value, []) as T;
}
