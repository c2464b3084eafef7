// Golden exposition files pin metric names, types and label names per probe kind, so a rename is
// always a deliberate change of the file. Values are masked; label values that are not bounded
// (timestamps, ids) should not exist anyway.
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/** Keep hookwatch_* families (minus the core's own per-agent ones), mask sample values, drop histogram bucket detail. */
export function normalizeExposition(text: string, opts: { keepLabelValues?: string[] } = {}): string {
  const keep = new Set(opts.keepLabelValues ?? ['probe', 'type', 'outcome', 'reason', 'basis', 'phase', 'method', 'threshold', 'result']);
  const lines = new Set<string>();
  for (const line of text.split('\n')) {
    if (
      !line.includes('hookwatch_') ||
      line.includes('hookwatch_build_info') ||
      line.includes('hookwatch_config_last_reload') ||
      line.includes('hookwatch_scheduler_lag')
    )
      continue;
    if (line.startsWith('#')) {
      lines.add(line);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+$/.exec(line);
    if (!m) continue;
    const name = m[1]!;
    if (name.endsWith('_bucket')) continue;
    const labels = [...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) =>
      keep.has(k!) ? `${k}="${v}"` : `${k}=<${k}>`,
    );
    lines.add(`${name}{${labels.join(',')}} <value>`);
  }
  return [...lines].sort().join('\n') + '\n';
}

/** `file`: the golden file beside the kind's test, `new URL('./exposition.prom', import.meta.url)`. */
export function expectGolden(url: URL, exposition: string): void {
  const file = fileURLToPath(url);
  const actual = normalizeExposition(exposition);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.CI && !existsSync(file)) throw new Error(`golden file ${file} missing; run with UPDATE_GOLDEN=1 locally and commit it`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
