// hookwatch command line: run, check, once, schema, redeliver, demo.
// Exit codes follow the contract: check 0/1; once 0 all pass, 1 any fail, 2 usage or config error.
import { Command, CommanderError, Option } from 'commander';
import { writeSync } from 'node:fs';
import { PROBE_KINDS } from '../probes/registry.ts';
import { ConfigError, loadConfigFile } from './config/load.ts';
import { jsonSchema } from './config/schema.ts';
import { createLogger, type LogFormat } from './log.ts';
import { MetricRegistry } from './metrics/registry.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import { RunLogStore } from './scheduler/run-log.ts';
import { Agent } from './agent.ts';
import { loadWebConfig } from './server/listen.ts';
import { runView } from './server/status.ts';
import { formatText } from './server/text.ts';
import { parseDuration } from './config/duration.ts';

const out = (s: string) => writeSync(1, s.endsWith('\n') ? s : s + '\n');
const err = (s: string) => writeSync(2, s.endsWith('\n') ? s : s + '\n');

class ExitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function loadOrExit(file: string, code: number) {
  try {
    return loadConfigFile(file, { kinds: PROBE_KINDS });
  } catch (e) {
    if (e instanceof ConfigError) throw new ExitError(code, `config invalid:\n${e.message}`);
    throw e;
  }
}

const program = new Command('hookwatch')
  .description('Synthetic monitoring and alerting for payment-webhook integrations')
  .version(process.env.npm_package_version ?? '0.1.0')
  .exitOverride()
  .configureOutput({ writeOut: out, writeErr: err });

const configOption = () => new Option('--config.file <file>', 'probe configuration file (YAML)').makeOptionMandatory();
const logOptions = (c: Command) =>
  c
    .addOption(new Option('--log.level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addOption(new Option('--log.format <format>', 'log format').choices(['json', 'logfmt']).default('json'));

logOptions(
  program
    .command('run')
    .description('run the agent: schedule probes and serve /metrics')
    .addOption(configOption())
    .option('--web.listen-address <addr>', 'address to listen on', ':9877')
    .option('--web.config.file <file>', 'exporter-toolkit web config (TLS, basic auth)'),
).action(async (o: Record<string, string>) => {
  const runLogs = new RunLogStore();
  const log = createLogger({ level: o['log.level'], format: o['log.format'] as LogFormat, sink: runLogs.sink });
  const webConfig = o['web.config.file'] ? loadWebConfig(o['web.config.file']) : undefined;
  const agent = new Agent({ configFile: o['config.file']!, kinds: PROBE_KINDS, log, runLogs, listenAddress: o['web.listenAddress'], webConfig });
  try {
    await agent.start();
  } catch (e) {
    if (e instanceof ConfigError) throw new ExitError(1, `config invalid, not starting:\n${e.message}`);
    throw new ExitError(1, `cannot start: ${(e as Error).message}`);
  }
  const a = agent.address();
  log.info({ address: a ? `${a.host}:${a.port}` : undefined }, 'listening');
  process.on('SIGHUP', () => agent.reload());
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    // Hard stop at 5 s whatever a probe does.
    setTimeout(() => process.exit(0), 4500).unref();
    void agent.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
});

program
  .command('check')
  .description('validate a configuration file (exit 0 valid, 1 invalid)')
  .addOption(configOption())
  .action((o: Record<string, string>) => {
    const c = loadOrExit(o['config.file']!, 1);
    out(`config OK: ${c.probes.length} probe(s), ${Object.keys(c.sources).length} source(s)`);
  });

program
  .command('once')
  .description('run probes once and print verdicts (exit 0 all pass, 1 any fail, 2 usage/config error)')
  .addOption(configOption())
  .option('--probe <name>', 'probe to run (repeatable; default all)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
  .addOption(new Option('--log.level <level>', 'log level (logs go to stderr)').choices(['debug', 'info', 'warn', 'error']).default('warn'))
  .action(async (o: Record<string, unknown>) => {
    const config = loadOrExit(o['config.file'] as string, 2);
    const wanted = o.probe as string[];
    const names = config.probes.map((p) => p.name);
    const unknown = wanted.filter((n) => !names.includes(n));
    if (unknown.length) throw new ExitError(2, `unknown probe(s): ${unknown.join(', ')}; configured: ${names.join(', ')}`);
    const log = createLogger({ level: o['log.level'] as string });
    const scheduler = new Scheduler({ registry: new MetricRegistry({ processMetrics: false }), log, kinds: PROBE_KINDS });
    scheduler.apply(config);
    const selected = wanted.length ? wanted : names;
    const recs = await Promise.all(selected.map(async (n) => ({ p: config.probes.find((x) => x.name === n)!, rec: await scheduler.runOnce(n) })));
    await scheduler.stop(100);
    const views = recs.map(({ p, rec }) => runView(p.name, p.type, rec));
    if (o.format === 'json') out(JSON.stringify({ ok: views.every((v) => v.ok), probes: views }, null, 2));
    else out(formatText(views));
    process.exitCode = views.every((v) => v.ok) ? 0 : 1;
  });

program
  .command('schema')
  .description('print the configuration JSON Schema (for editors and CI validation)')
  .action(() => {
    out(JSON.stringify(jsonSchema(PROBE_KINDS), null, 2));
  });

program
  .command('redeliver')
  .description('re-send paid events whose BTCPay deliveries all failed (dry run unless --apply)')
  .addOption(configOption())
  .requiredOption('--probe <name>', 'a delivery_rate or paid_latency probe naming the BTCPay source and webhook')
  .option('--since <duration>', 'look back this far', '6h')
  .option('--store <id>', 'the store to act on, when the source watches several (storeId: all or a list)')
  .option('--apply', 'actually redeliver (default: dry run)', false)
  .option('--send-missing', 'also post paid events BTCPay never attempted, signed with the webhook secret of a btcpay-signing synthetic probe (dry run unless --apply)', false)
  .option('--record-file <path>', 'where --send-missing records what it sent (default: .hookwatch-send-missing.jsonl beside the config)')
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
  .action(async (o: Record<string, unknown>) => {
    const config = loadOrExit(o['config.file'] as string, 2);
    const probe = config.probes.find((p) => p.name === o.probe);
    if (!probe || typeof probe.source !== 'string') throw new ExitError(2, `probe "${String(o.probe)}" not found or has no btcpay source`);
    let source = config.sources[probe.source];
    if (!source || source.type !== 'btcpay') throw new ExitError(2, `source "${probe.source}" is not a btcpay source`);
    if (source.stores) {
      const store = o.store as string | undefined;
      if (!store) throw new ExitError(2, `source "${probe.source}" watches several stores: pass --store ID`);
      if (Array.isArray(source.stores) && !source.stores.includes(store)) {
        throw new ExitError(2, `store "${store}" is not one of the stores of source "${probe.source}"`);
      }
      const { stores: _all, ...one } = source;
      source = { ...one, storeId: store };
    }
    const sinceMs = parseDuration(o.since as string);
    if (sinceMs === undefined) throw new ExitError(2, `invalid --since "${String(o.since)}"`);
    const { runRedeliverCommand, webhookSecretsFromConfig, defaultRecordFile } = await import('./commands/redeliver/index.ts');
    const sendMissing = o.sendMissing === true ? { secrets: webhookSecretsFromConfig(config), recordFile: (o.recordFile as string | undefined) ?? defaultRecordFile(config.file) } : undefined;
    const code = await runRedeliverCommand({ source, webhookId: probe.webhookId as string | undefined, paidEvents: probe.paidEvents as string[] | undefined, sinceMs, apply: o.apply === true, format: o.format as 'text' | 'json', out, ...(sendMissing ? { sendMissing } : {}) });
    process.exitCode = code;
  });

program
  .command('demo')
  .description('run the agent against a simulated BTCPay store, receiver and DNS on loopback')
  .option('--web.listen-address <addr>', 'address to listen on', '127.0.0.1:9877')
  .option('--duration <duration>', 'stop after this long (default: run until Ctrl-C)')
  .action(async (o: Record<string, string>) => {
    const { runDemo } = await import('./demo/run.ts');
    await runDemo({ listenAddress: o['web.listenAddress']!, durationMs: o.duration ? parseDuration(o.duration) : undefined, out });
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof ExitError) {
    err(e.message);
    process.exitCode = e.code;
  } else if (e instanceof CommanderError) {
    // Contract: `check` answers only 0 (valid) or 1 (invalid); other commands use 2 for usage errors.
    const usage = process.argv[2] === 'check' ? 1 : 2;
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : usage;
  } else {
    err(`hookwatch: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 2;
  }
}
