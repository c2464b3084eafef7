// zod building blocks shared by the core schema and probe kinds' schemas.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { Secret } from './secret.ts';

/** A Prometheus-style duration string ("30s", "15m", "1h"), parsed to milliseconds. */
export const duration = () =>
  z
    .string({ error: 'expected a duration such as 30s, 15m or 1h' })
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `invalid duration "${s}": expected a number followed by a unit (ms, s, m, h, d, w, y), e.g. 30s, 15m or 1h30m` });
        return z.NEVER;
      }
      return ms;
    })
    // JSON Schema export cannot describe a transform's output; describe the input instead.
    .meta({ type: 'string', pattern: '^([0-9]+(y|w|d|h|m|s|ms))+$|^0$', description: 'Prometheus-style duration, e.g. 30s, 15m, 1h' });

/** Where secrets resolve from while a config is parsed; set by the loader around parse(). */
export const secretEnv: { env: NodeJS.ProcessEnv; baseDir: string } = { env: process.env, baseDir: process.cwd() };

/**
 * A secret reference: { file: PATH } or { env: NAME }, resolved while parsing into a Secret.
 * Errors name the reference, never the value. Inline strings are refused so no example ever carries one.
 */
export const secretRef = () =>
  z
    .union([z.strictObject({ file: z.string().min(1) }), z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name') })], {
      error: (iss) =>
        typeof iss.input === 'string'
          ? 'secrets must be references, not inline values: use { file: /path/to/secret } or { env: VARIABLE_NAME }'
          : 'expected a secret reference { file: PATH } or { env: NAME }',
    })
    .transform((ref, ctx) => {
      if ('env' in ref) {
        const v = secretEnv.env[ref.env];
        if (v === undefined || v === '') {
          ctx.addIssue({ code: 'custom', message: `secret reference env:${ref.env} is not set (environment variable ${ref.env} is missing or empty)` });
          return z.NEVER;
        }
        return new Secret(v, `env:${ref.env}`);
      }
      const path = isAbsolute(ref.file) ? ref.file : resolve(secretEnv.baseDir, ref.file);
      try {
        const v = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
        if (v === '') {
          ctx.addIssue({ code: 'custom', message: `secret reference file:${ref.file} is empty` });
          return z.NEVER;
        }
        return new Secret(v, `file:${ref.file}`);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'error';
        ctx.addIssue({ code: 'custom', message: `secret reference file:${ref.file} cannot be read (${code})` });
        return z.NEVER;
      }
    })
    .meta({ description: 'Secret reference: { file: PATH } or { env: NAME }' });

/** An IP address and port ("127.0.0.53:53", "[::1]:53"): resolvers are addressed by IP, never by name. */
export const hostPort = () =>
  z.string().refine((s) => {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(s);
    return !!m && isIP(m[1] ?? m[2] ?? '') !== 0 && Number(m[3]) > 0 && Number(m[3]) < 65536;
  }, 'expected IP:PORT (an address, not a name), e.g. 127.0.0.53:53 or [::1]:53');

/** Resolve a path written in the config relative to the config file's folder. */
export function configRelative(p: string): string {
  return isAbsolute(p) ? p : resolve(secretEnv.baseDir, p);
}
