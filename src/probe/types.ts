// The contract between the core and probe kinds. The core knows probes only through ProbeKind;
// a kind lives in probes/<name>/index.ts and is listed in probes/registry.ts.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ProbeMetrics } from '../metrics/probe-metrics.ts';
import type { Secret } from '../config/secret.ts';

/** Fields every probe entry has, whatever its kind. Durations are already converted to milliseconds. */
export interface ProbeBase {
  name: string;
  type: string;
  intervalMs: number;
  timeoutMs: number;
  /** Threshold overrides from YAML, in base units (seconds, ratios); exported as hookwatch_probe_threshold. */
  thresholds: Record<string, number>;
}

export type SourceConfig =
  | {
      name: string;
      type: 'btcpay';
      url: string;
      apiKey: Secret;
      /** The one store watched; '' when `stores` is set (src/btcpay/stores.ts runs the probe once per store). */
      storeId: string;
      timeoutMs?: number;
      stores?: 'all' | string[];
      maxStores?: number;
      requestBudget?: number;
      discoveryIntervalMs?: number;
      maxStalenessMs?: number;
      quietAfterMs?: number;
      storeConcurrency?: number;
    }
  | {
      name: string;
      type: 'http-json';
      url: string;
      headers: Record<string, Secret | string>;
      /** Where the record list is in the response (dot path), '' for a top-level array. */
      itemsPath: string;
      fields: { id: string; amount?: string; currency?: string; time?: string };
    }
  | {
      name: string;
      type: 'postgres';
      host: string;
      port: number;
      database: string;
      user: string;
      password?: Secret;
      ssl: boolean;
      /** Parameterised query: $1 = since, $2 = until (timestamptz). Columns: id, amount, currency, time. */
      query: string;
    };

export interface GlobalConfig {
  intervalMs: number;
  timeoutMs: number;
  /** 'system' (getaddrinfo) or 'IP:PORT' of a recursive resolver. */
  resolver: string;
}

/** The validated, secret-resolved configuration. */
export interface LoadedConfig {
  file: string;
  global: GlobalConfig;
  sources: Record<string, SourceConfig>;
  /** Each probe is ProbeBase plus its kind's own keys (as parsed by its schema). */
  probes: Array<ProbeBase & Record<string, unknown>>;
  /** All secrets resolved while loading, for scrubbing error text. */
  secrets: Secret[];
}

export interface ProbeContext {
  /** Aborted when the run times out or the agent shuts down / reloads the probe away. */
  signal: AbortSignal;
  /** Child logger carrying probe, type and a per-run correlation id (run_id). */
  log: Logger;
  /** Metric helpers; every series gets the `probe` label automatically. */
  metrics: ProbeMetrics;
  /** Wall clock in ms. Injected so tests can fake time. */
  now(): number;
  /** Survives across runs of the same probe (and across reloads while name+type stay the same). */
  state: Map<string, unknown>;
  config: LoadedConfig;
  /** Named source connection settings. */
  source(name: string): SourceConfig;
}

export interface ProbeResult {
  ok: boolean;
  /** One sentence, present when !ok: what failed. */
  reason?: string;
  /** The likely cause and what to do, for humans (once output, /status). */
  cause?: string;
  /** Anything worth showing a human: ids, per-target verdicts. Never secrets, never used as labels. */
  details?: Record<string, unknown>;
}

export interface ProbeKind<C extends z.ZodObject = z.ZodObject> {
  /** The `type:` value in YAML, e.g. 'delivery_rate'. */
  type: string;
  /** zod object schema of the kind's own keys (not name/type/interval/timeout/thresholds). Strict. */
  schema: C;
  /** Threshold keys this kind understands, with defaults in base units. */
  thresholds?: Record<string, { default: number | ((probe: { intervalMs: number }) => number); help: string }>;
  /**
   * Default run timeout when the probe sets none, for kinds whose own deadlines (e.g. "BTCPay must
   * deliver within 2m") outlast the global timeout. Takes the parsed probe (own keys + intervalMs).
   */
  defaultTimeoutMs?: (probe: z.infer<C> & { intervalMs: number }) => number;
  /** Default interval for this kind when neither probe nor global sets one (e.g. synthetic: 1h). */
  defaultIntervalMs?: number;
  /** Extra cross-field checks after parsing (e.g. that `source` names a btcpay source). Return error messages keyed by key. */
  validate?(probe: ProbeBase & z.infer<C>, config: Omit<LoadedConfig, 'probes'> & { probes: ProbeBase[] }): Array<{ key: string; message: string }>;
  run(probe: ProbeBase & z.infer<C>, ctx: ProbeContext): Promise<ProbeResult>;
}

/** Identity helper that keeps the schema's inferred type on `run`. */
export function defineProbe<C extends z.ZodObject>(kind: ProbeKind<C>): ProbeKind<C> {
  return kind;
}
