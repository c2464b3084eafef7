// The contract between the core and probe kinds. The core knows probes only through ProbeKind;
// a kind lives in probes/<name>/index.ts and is listed in probes/registry.ts.
import type { Logger } from 'pino';
import type { z } from 'zod';
import { withRunMetrics, type MetricDefs, type MetricSet, type RunMetrics } from '../metrics/run-metrics.ts';
import type { Secret } from '../secret.ts';

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

export type SourceType = SourceConfig['type'];
export type SourceOf<T extends SourceType> = Extract<SourceConfig, { type: T }>;

/**
 * Which of a kind's config keys name a source, and the source types each accepts, e.g.
 * `{ source: ['btcpay'], records: ['http-json', 'postgres'] }`. The loader checks the names and types once
 * (file:line errors) and run() gets them resolved and typed as `ctx.sources` (see defineProbe).
 */
export type SourceKeys = Readonly<Record<string, readonly SourceType[]>>;

/** The sources a kind declared, resolved: required when the schema requires the key, optional otherwise. */
export type ResolvedSources<C extends z.ZodObject, S extends SourceKeys> = {
  [K in keyof S & keyof z.infer<C>]: undefined extends z.infer<C>[K] ? SourceOf<S[K][number]> | undefined : SourceOf<S[K][number]>;
};

/** A receiver URL that some probe tests end to end (its targets), for probes that compare against them. */
export interface TestedDestination {
  /** The probe that tests it. */
  probe: string;
  url: string;
  /** URL.hostname: lower case, IPv6 literals in brackets. */
  host: string;
}

export interface TestedDestinations {
  /** Names of the probes whose kind tests destinations (even when they list none, as a mode that finds them upstream). */
  probes: string[];
  targets: TestedDestination[];
}

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
  /** Each probe is ProbeBase plus its kind's own keys (as parsed by its schema) and its resolved `sources`. */
  probes: Array<ProbeBase & Record<string, unknown>>;
  /** The destinations the end-to-end probes test, for probes that check other things against them. */
  destinations: TestedDestinations;
  /** All secrets resolved while loading, for scrubbing error text. */
  secrets: Secret[];
}

/** The parts of the loaded file a running probe sees: defaults, the secrets to scrub, the tested destinations. */
export type ProbeConfigView = Pick<LoadedConfig, 'file' | 'global' | 'secrets' | 'destinations'>;

/** What a kind's validate() sees of the whole file. */
export type ValidationConfig = Omit<LoadedConfig, 'probes' | 'destinations'> & { probes: ProbeBase[]; destinations?: TestedDestinations };

export interface ProbeContext {
  /** Aborted when the run times out or the agent shuts down / reloads the probe away. */
  signal: AbortSignal;
  /** Child logger carrying probe, type and a per-run correlation id (run_id). */
  log: Logger;
  /**
   * The run's metrics; every series gets the `probe` label. The scheduler's (a snapshot it publishes when the
   * run completes), or RunMetrics.standalone() in tests. A kind sees it as MetricSet typed by its declaration.
   */
  metrics: RunMetrics;
  /** Wall clock in ms. Injected so tests can fake time. */
  now(): number;
  /** Survives across runs of the same probe (and across reloads while name+type stay the same). */
  state: Map<string, unknown>;
  /** What a probe may read of the whole file; its own settings and sources come as arguments. */
  config: ProbeConfigView;
  /** Named source connection settings. */
  source(name: string): SourceConfig;
}

export interface ProbeResult {
  ok: boolean;
  /** One sentence, present when !ok: what failed. */
  reason?: string;
  /** The likely cause, for humans (once output, /status). */
  cause?: string;
  /** What ends the outage now, runnable as printed where it is a command (e.g. the resolver flush). */
  action?: string;
  /** What prevents it recurring (e.g. make the resolver honour TTLs). */
  fix?: string;
  /** How urgent a failure is: 'page' (an outage, the default) or 'ticket' (latent, fix in working hours). */
  severity?: 'page' | 'ticket';
  /** Destination hosts whose delivery failures this failure explains (a DNS drift on the host). */
  explains?: string[];
  /** When the probe's own evidence says the failure began (epoch ms), when it knows better than its run history. */
  since?: number;
  /** The alert whose runbook covers this result (e.g. HookwatchResolverTTLInflated), overriding the kind's. */
  runbook?: string;
  /** Anything worth showing a human: ids, per-target verdicts. Never secrets, never used as labels. */
  details?: Record<string, unknown>;
}

export interface ProbeKind<C extends z.ZodObject = z.ZodObject> {
  /** The `type:` value in YAML, e.g. 'delivery_rate'. */
  type: string;
  /** zod object schema of the kind's own keys (not name/type/interval/timeout/thresholds). Strict. */
  schema: C;
  /** Keys of `schema` that name sources, with the source types each accepts. */
  sources?: SourceKeys;
  /** Accepts a btcpay source that watches several stores (`storeId: all` or a list); other kinds need one storeId. */
  multiStore?: boolean;
  /** Receiver URLs this probe tests end to end; other probes see them as `config.destinations`. */
  destinations?(probe: ProbeBase & z.infer<C>): string[];
  /** For kinds that watch BTCPay deliveries: the webhook and events `hookwatch redeliver --probe` acts on (the source is the declared btcpay one). */
  redeliveryScope?(probe: ProbeBase & z.infer<C>): { webhookId?: string; paidEvents?: string[] };
  /** The kind's own metric families (see src/probe/README.md); the core registers them. */
  metrics?: MetricDefs;
  /** Threshold keys this kind understands, with defaults in base units. */
  thresholds?: Record<string, { default: number | ((probe: { intervalMs: number }) => number); help: string }>;
  /**
   * Default run timeout when the probe sets none, for kinds whose own deadlines (e.g. "BTCPay must
   * deliver within 2m") outlast the global timeout. Takes the parsed probe (own keys + intervalMs).
   */
  defaultTimeoutMs?: (probe: z.infer<C> & { intervalMs: number }) => number;
  /** The alert whose runbook explains this kind's failures (alerts/runbooks/<name>.md). */
  runbook?: string;
  /** Default interval for this kind when neither probe nor global sets one (e.g. synthetic: 1h). */
  defaultIntervalMs?: number;
  /** Extra cross-field checks after parsing (e.g. that `source` names a btcpay source). Return error messages keyed by key. */
  validate?(probe: ProbeBase & z.infer<C>, config: ValidationConfig): Array<{ key: string; message: string }>;
  run(probe: ProbeBase & z.infer<C>, ctx: ProbeContext): Promise<ProbeResult>;
}

/** What a kind's run() gets on top of the usual context: its declared sources, resolved and typed. */
export type SourcedContext<C extends z.ZodObject, S extends SourceKeys> = ProbeContext & { sources: ResolvedSources<C, S> };

/** The context of a kind's run(): sources typed, and metrics typed by the kind's declaration (only threshold() without one). */
export type RunContext<C extends z.ZodObject, S extends SourceKeys, D extends MetricDefs> = Omit<SourcedContext<C, S>, 'metrics'> & { metrics: MetricSet<D> };

/** A kind as written in probes/<kind>/index.ts: like ProbeKind, but run() sees its sources and metrics typed. */
export interface ProbeDefinition<C extends z.ZodObject, S extends SourceKeys, D extends MetricDefs> extends Omit<ProbeKind<C>, 'sources' | 'metrics' | 'run'> {
  sources?: S;
  metrics?: D;
  run(probe: ProbeBase & z.infer<C>, ctx: RunContext<C, S, D>): Promise<ProbeResult>;
}

/**
 * Keeps the schema's inferred type on `run`, and hands run() the sources named by the keys the kind
 * declares (`sources`), looked up through ctx.source(). The loader has already checked that each name
 * exists and is of an accepted type. Declared metric families are registered before every run; a
 * caller that hands a standalone RunMetrics instead of the scheduler's (a test, a benchmark) gets the
 * run's gauges published when run() returns.
 */
export function defineProbe<C extends z.ZodObject, const S extends SourceKeys = Record<never, never>, const D extends MetricDefs = Record<never, never>>(
  def: ProbeDefinition<C, S, D>,
): ProbeKind<C> {
  const keys = Object.keys(def.sources ?? {});
  return {
    ...def,
    async run(probe, ctx) {
      const sources: Record<string, SourceConfig | undefined> = {};
      for (const key of keys) {
        const name = (probe as Record<string, unknown>)[key];
        sources[key] = typeof name === 'string' ? ctx.source(name) : undefined;
      }
      return withRunMetrics(ctx.metrics, probe.type, async (metrics) => {
        if (def.metrics) metrics.declare(def.metrics);
        return def.run(probe, Object.assign(Object.create(ctx) as ProbeContext, { sources, metrics }) as unknown as RunContext<C, S, D>);
      });
    },
  };
}
