// The core's part of the config schema (global, sources, the fields every probe has), and the
// assembly of the full schema from the probe kinds for `hookwatch schema` and per-probe validation.
import { z } from 'zod';
import type { ProbeKind } from '../probe/types.ts';
import { duration, ipPort, secretRef } from './schema-helpers.ts';
import { refuseUrlCredentials } from '../redact-url.ts';

/** The same rule wherever a resolver is named (global and any kind with a resolver key). */
export const resolverSchema = () => ipPort(true).meta({ description: '"system" (getaddrinfo, as the sender sees it) or IP:PORT of a recursive resolver' });

export const globalSchema = z.strictObject({
  interval: duration().default(60_000).describe('Default run interval of every probe whose kind has none of its own (default 60s)'),
  timeout: duration().default(10_000).describe('Default run timeout, capped at the interval (default 10s)'),
  resolver: resolverSchema().default('system'),
});

const SENSITIVE_HEADER = /^(authorization|proxy-authorization|cookie)$|token|key|secret|password|auth/i;

const httpUrl = () => z.url({ protocol: /^https?$/, error: 'expected an absolute http(s) URL' }).superRefine(refuseUrlCredentials);

/** Keys of a btcpay source that only matter when it watches several stores (src/btcpay/stores.ts). */
function multiStoreKeys() {
  return {
    maxStores: z.int().min(1).max(100_000).optional().describe('Fail instead of watching more stores than this (default 1000)'),
    requestBudget: z
      .int()
      .min(1)
      .optional()
      .describe('Most API requests per minute, shared by every probe using the source (default: 600 with several stores, unlimited with one)'),
    discoveryInterval: duration().optional().describe("How often the store list and each store's webhook list are read again (default 5m)"),
    maxStaleness: duration().optional().describe('Longest a quiet store or webhook goes unpolled (default 10m)'),
    quietAfter: duration().optional().describe('No new delivery for this long makes a store or webhook quiet (default 15m)'),
    storeConcurrency: z.int().min(1).max(64).optional().describe('Stores polled at once (default 4)'),
  };
}

export const sourceSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('btcpay').describe('A BTCPay Server store (or several), read through the Greenfield API'),
      url: httpUrl().describe('Base URL of the BTCPay Server'),
      apiKey: secretRef().describe('Greenfield API key, as a secret reference'),
      storeId: z
        .union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
          error: (iss) => (iss.input === undefined ? 'missing required key: storeId' : 'expected a store id, "all", or a list of store ids'),
        })
        .describe('One store id; "all" (every store the key can see, needs btcpay.store.canviewstoresettings) or a list of ids'),
      timeout: duration().optional().describe("Per-request timeout (default: the probe's timeout)"),
      ...multiStoreKeys(),
    }),
    z.strictObject({
      type: z.literal('http-json').describe("An internal system's records, read as JSON over HTTP"),
      url: z
        .string()
        .refine((u) => /^https?:\/\//.test(u), 'expected an http(s) URL; {since} and {until} are replaced by unix seconds')
        .superRefine(refuseUrlCredentials)
        .describe('URL of the records; {since} and {until} are replaced by unix seconds'),
      // Plain strings are fine for Accept and friends; anything credential-like must be a secret reference.
      headers: z
        .record(z.string(), z.union([z.string(), secretRef()]))
        .superRefine((h, ctx) => {
          for (const [k, v] of Object.entries(h)) {
            if (typeof v === 'string' && SENSITIVE_HEADER.test(k))
              ctx.addIssue({ code: 'custom', path: [k], message: `header ${k} carries a credential: use a secret reference { file: PATH } or { env: NAME }` });
          }
        })
        .default({})
        .describe('Request headers; credential-like headers must be secret references'),
      itemsPath: z.string().default('').describe("Dot path of the record list in the response ('' for a top-level array)"),
      fields: z
        .strictObject({
          id: z.string().default('invoiceId').describe('Field holding the BTCPay invoice id (default invoiceId)'),
          amount: z.string().optional().describe('Field holding the amount, compared with the invoice'),
          currency: z.string().optional().describe('Field holding the currency, compared with the invoice'),
          time: z.string().optional().describe('Field holding when the record was made'),
        })
        .default({ id: 'invoiceId' })
        .describe('Where each field is in a record (dot paths)'),
    }),
    z.strictObject({
      type: z.literal('postgres').describe("An internal system's records, read from PostgreSQL"),
      host: z.string().default('127.0.0.1').describe('Database host (default 127.0.0.1)'),
      port: z.int().min(1).max(65535).default(5432).describe('Database port (default 5432)'),
      database: z.string().min(1).describe('Database name'),
      user: z.string().min(1).describe('Database user'),
      password: secretRef().optional().describe('Database password, as a secret reference'),
      ssl: z.boolean().default(false).describe('Connect with TLS (default false)'),
      query: z.string().min(1).describe('Parameterised query: $1 = since, $2 = until (timestamptz); columns id, amount, currency, time'),
    }),
  ],
  { error: 'expected a source with type btcpay, http-json or postgres' },
);

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/;

/** Fields every probe entry has, before the kind's own keys. */
export function baseProbeShape(kind?: ProbeKind) {
  const thresholdKeys = Object.keys(kind?.thresholds ?? {});
  const thresholdValue = z.union([z.number(), duration().transform((ms) => ms / 1000)], {
    error: 'expected a number in base units (ratio or seconds) or a duration',
  });
  const thresholds = z
    .strictObject(Object.fromEntries(thresholdKeys.map((k) => [k, thresholdValue.optional().describe(kind!.thresholds![k]!.help)])))
    .optional()
    .describe('Threshold overrides in base units (ratios, seconds) or durations; exported as hookwatch_probe_threshold');
  return {
    name: z
      .string()
      .regex(NAME_RE, 'expected a probe name of letters, digits and _.:- (at most 63 characters)')
      .describe('Unique probe name (the probe label)'),
    type: (kind ? z.literal(kind.type) : z.string()).describe('Probe kind'),
    interval: duration().optional().describe("How often the probe runs (default: the kind's own, else global.interval)"),
    timeout: duration().optional().describe("Run timeout (default: the kind's own, else global.timeout capped at the interval)"),
    thresholds,
  };
}

export function probeSchema(kind: ProbeKind) {
  return kind.schema.extend(baseProbeShape(kind));
}

/** The whole file's schema, used for the JSON Schema export. Validation goes in stages (see load.ts). */
export function fullSchema(kinds: ReadonlyArray<ProbeKind>) {
  const probes = kinds.map((k) => probeSchema(k));
  return z.strictObject({
    global: globalSchema.optional().describe('Defaults for every probe'),
    sources: z.record(z.string().regex(NAME_RE), sourceSchema).optional().describe('Named upstream connections, reused by probes'),
    probes: z.array(probes.length === 1 ? probes[0]! : z.discriminatedUnion('type', probes as never)).describe('The probes to run'),
  });
}

export function jsonSchema(kinds: ReadonlyArray<ProbeKind>): Record<string, unknown> {
  const s = z.toJSONSchema(fullSchema(kinds), { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { $id: 'https://hookwatch.dev/schema/config.json', title: 'hookwatch probe configuration', ...s };
}
