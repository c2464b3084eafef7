// zod building blocks shared by the core schema and probe kinds' schemas.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { Secret, type SecretRef } from '../secret.ts';
import { ipPortProblem } from '../address.ts';
import { deferred, type Resolved, type ResolveEnv } from './deferred.ts';

/** A Prometheus-style duration string ("30s", "15m", "1h"), parsed to milliseconds. */
export const duration = () =>
  z
    .string({ error: 'expected a duration such as 30s, 15m or 1h' })
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `invalid duration "${s}": expected a number followed by a unit (ms, s, m, h, d, w, y), e.g. 30s, 15m or 1h30m`,
        });
        return z.NEVER;
      }
      return ms;
    })
    // JSON Schema export cannot describe a transform's output; describe the input instead.
    .meta({ type: 'string', pattern: '^([0-9]+(y|w|d|h|m|s|ms))+$|^0$', description: 'Prometheus-style duration, e.g. 30s, 15m, 1h' });

/** Read a secret reference with the loader's environment. Errors name the reference, never the value. */
function readSecret(ref: SecretRef, { env, baseDir }: ResolveEnv): Resolved<Secret> {
  if ('env' in ref) {
    const v = env[ref.env];
    if (v === undefined || v === '') return { error: `secret reference env:${ref.env} is not set (environment variable ${ref.env} is missing or empty)` };
    return { value: new Secret(v, `env:${ref.env}`) };
  }
  const path = isAbsolute(ref.file) ? ref.file : resolve(baseDir, ref.file);
  try {
    const v = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    if (v === '') return { error: `secret reference file:${ref.file} is empty` };
    return { value: new Secret(v, `file:${ref.file}`) };
  } catch (e) {
    return { error: `secret reference file:${ref.file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
}

/**
 * A secret reference: { file: PATH } or { env: NAME }, resolved after parsing into a Secret (see deferred.ts).
 * Inline strings are refused so no example ever carries one.
 */
export const secretRef = () =>
  z
    .union(
      [
        z.strictObject({ file: z.string().min(1).describe('File holding the secret (one trailing newline is dropped); relative to the config file') }),
        z.strictObject({
          env: z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
            .describe('Environment variable holding the secret'),
        }),
      ],
      {
        error: (iss) =>
          typeof iss.input === 'string'
            ? 'secrets must be references, not inline values: use { file: /path/to/secret } or { env: VARIABLE_NAME }'
            : 'expected a secret reference { file: PATH } or { env: NAME }',
      },
    )
    .transform((ref) => deferred((env) => readSecret(ref, env)))
    .meta({ description: 'Secret reference: { file: PATH } or { env: NAME }' });

/** An address "IP:PORT" ("127.0.0.53:53", "[::1]:53"); with `orSystem`, also "system" (getaddrinfo). */
export const ipPort = (orSystem = false) =>
  z.string().superRefine((s, c) => {
    if (orSystem && s === 'system') return;
    const problem = ipPortProblem(s);
    if (problem) c.addIssue({ code: 'custom', message: orSystem ? `${problem} (or "system" for getaddrinfo)` : problem });
  });

/** A file path written in the config, resolved relative to the config file's folder. */
export const configPath = () =>
  z
    .string()
    .min(1)
    .transform((p) => deferred<string>(({ baseDir }) => ({ value: isAbsolute(p) ? p : resolve(baseDir, p) })));
