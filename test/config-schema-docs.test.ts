// The configuration documents itself: every key in `hookwatch schema` has a description, and each probe
// kind's README lists exactly the keys its schema accepts (own keys and thresholds).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonSchema } from '../src/config/schema.ts';
import { PROBE_KINDS } from '../probes/registry.ts';

type JsonSchema = { description?: string; properties?: Record<string, JsonSchema>; items?: JsonSchema; additionalProperties?: JsonSchema | boolean } & Record<
  string,
  unknown
>;

/** Key paths of every property in the schema that has no description. */
function undocumented(s: JsonSchema, path: string, out: string[] = []): string[] {
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    if (!v.description) out.push(`${path}.${k}`);
    undocumented(v, `${path}.${k}`, out);
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const alternatives = s[key];
    if (Array.isArray(alternatives)) (alternatives as JsonSchema[]).forEach((x) => undocumented(x, path, out));
  }
  if (s.items) undocumented(s.items, `${path}[]`, out);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') undocumented(s.additionalProperties, `${path}.*`, out);
  return out;
}

/** Keys listed in the first column of the README's "| key | default | meaning |" table. */
function readmeKeys(markdown: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^\|\s*key\s*\|/.test(l));
  if (start < 0) return [];
  const keys: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const m = /^\|\s*`([^`]+)`/.exec(line);
    if (m) keys.push(m[1]!);
  }
  return keys;
}

describe('config schema documentation', () => {
  it('every key of every kind, source and global setting has a description', () => {
    expect(undocumented(jsonSchema(PROBE_KINDS) as JsonSchema, '')).toEqual([]);
  });

  it('the check finds a key without a description', () => {
    expect(undocumented({ properties: { a: { description: 'x', properties: { b: {} } } } }, '')).toEqual(['.a.b']);
  });

  for (const kind of PROBE_KINDS) {
    it(`probes/${kind.type.replace(/_/g, '-')}/README.md lists exactly the keys of ${kind.type}`, () => {
      const markdown = readFileSync(join(import.meta.dirname, '..', 'probes', kind.type.replace(/_/g, '-'), 'README.md'), 'utf8');
      const documented = readmeKeys(markdown);
      const schemaKeys = [...Object.keys(kind.schema.shape), ...Object.keys(kind.thresholds ?? {}).map((k) => `thresholds.${k}`)];
      expect(new Set(documented).size, `duplicate rows in ${documented.join(', ')}`).toBe(documented.length);
      expect([...documented].sort()).toEqual([...schemaKeys].sort());
    });
  }
});
