// The running agent: config + scheduler + metrics + HTTP server, with reload that never loses the
// running config to a bad file.
import type { Logger } from 'pino';
import type { Server } from 'node:http';
import { loadConfigFile, ConfigError } from './config/load.ts';
import type { LoadedConfig, ProbeKind } from './probe/types.ts';
import { MetricRegistry } from './metrics/registry.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import type { RunLogStore } from './scheduler/run-log.ts';
import { createApp } from './server/app.ts';
import type { AgentView, ReloadResult } from './server/agent-view.ts';
import { listen, WebSettings } from './server/listen.ts';
import { ShardFilter, UNSHARDED, type Shard } from './shard.ts';

export interface AgentOptions {
  configFile: string;
  kinds: ReadonlyArray<ProbeKind>;
  log: Logger;
  runLogs: RunLogStore;
  listenAddress?: string;
  /** exporter-toolkit web config file (TLS, basic auth); re-read on every reload. */
  webConfigFile?: string;
  /** Settings object instead of a file (tests: auth limits). */
  web?: WebSettings;
  /** Serve POST/PUT /-/reload (Prometheus' --web.enable-lifecycle); SIGHUP always reloads. */
  enableLifecycle?: boolean;
  env?: NodeJS.ProcessEnv;
  registry?: MetricRegistry;
  /** Run only the probes this shard owns (default: all). */
  shard?: Shard;
}

export class Agent implements AgentView {
  readonly registry: MetricRegistry;
  readonly scheduler: Scheduler;
  server?: Server;
  web?: WebSettings;
  ready = false;
  lastReloadError?: string;
  #reloadPending = false;
  readonly shard: ShardFilter;

  constructor(readonly opts: AgentOptions) {
    this.registry = opts.registry ?? new MetricRegistry();
    this.shard = new ShardFilter(opts.shard ?? UNSHARDED, this.registry.registry);
    this.scheduler = new Scheduler({ registry: this.registry, log: opts.log, kinds: opts.kinds, runLogs: opts.runLogs });
  }

  load(): LoadedConfig {
    return this.shard.apply(loadConfigFile(this.opts.configFile, { kinds: this.opts.kinds, env: this.opts.env }));
  }

  /** First load: a bad config (or web config) is fatal (the caller exits). */
  async start(): Promise<void> {
    this.web = this.opts.web ?? new WebSettings(this.opts.webConfigFile);
    const config = this.load();
    this.scheduler.apply(config);
    this.registry.configReloadSuccess.set(1);
    this.registry.configReloadTimestamp.set(Date.now() / 1000);
    if (this.opts.listenAddress !== undefined) {
      const app = createApp(this);
      this.server = await listen(app, this.opts.listenAddress, this.web);
    }
    this.scheduler.start();
    this.ready = true;
    this.opts.log.info({ probes: config.probes.length, file: this.opts.configFile }, 'hookwatch started');
    if (this.#reloadPending) {
      this.#reloadPending = false;
      this.reload();
    }
  }

  /** What SIGHUP calls: reload now, or as soon as start-up is done when it is still under way. */
  requestReload(): void {
    if (this.ready) {
      this.reload();
      return;
    }
    this.#reloadPending = true;
    this.opts.log.info('reload requested during start-up; it is applied once the agent has started');
  }

  /** Reload: validate the new files fully before touching anything; on error keep the old probes and web settings. */
  reload(): ReloadResult {
    try {
      const config = this.load();
      try {
        this.web?.reload();
      } catch (e) {
        throw new Error(`web config: ${(e as Error).message}`, { cause: e });
      }
      this.scheduler.apply(config);
      this.registry.configReloadSuccess.set(1);
      this.registry.configReloadTimestamp.set(Date.now() / 1000);
      this.lastReloadError = undefined;
      this.opts.log.info({ probes: config.probes.length }, 'configuration reloaded');
      return { ok: true, probes: config.probes.length };
    } catch (e) {
      const error = e instanceof ConfigError ? e.message : `reload failed: ${(e as Error).message}`;
      this.registry.configReloadSuccess.set(0);
      this.lastReloadError = error;
      this.opts.log.error({ error }, 'configuration reload failed; keeping the previous configuration');
      return { ok: false, error };
    }
  }

  address(): { host: string; port: number } | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
  }

  async stop(): Promise<void> {
    this.ready = false;
    const closing = this.server
      ? new Promise<void>((r) => {
          this.server!.close(() => r());
          this.server!.closeAllConnections?.();
        })
      : Promise.resolve();
    await Promise.all([this.scheduler.stop(3000), closing, this.web?.close()]);
  }
}
