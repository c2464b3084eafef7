// hookwatch command line: run, check, once, schema, redeliver, demo.
// Exit codes follow the contract: usage errors (a missing or unknown option) exit 2 in every command;
// `check` exits 1 for an invalid config; `once`/`verify` 0 pass, 1 fail, 2 usage or config error.
import { Command, CommanderError, Option } from 'commander';
import { writeSync } from 'node:fs';
import { PROBE_KINDS, probeKind } from '../probes/registry.ts';
import { declaredSource } from './probe/sources.ts';
import { ConfigError, loadConfigFile } from './config/load.ts';
import { jsonSchema } from './config/schema.ts';
import { createLogger, type LogFormat } from './log.ts';
import { MetricRegistry } from './metrics/registry.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import { RunLogStore } from './scheduler/run-log.ts';
import { formatScheduleInfo, scheduleInfo } from './scheduler/schedule-info.ts';
import { Agent } from './agent.ts';
import { destinationsOf, rootCauses, runView } from './server/status.ts';
import { formatText } from './server/text.ts';
import { parseDuration } from './config/duration.ts';
import { resolveShard, shardConfig, type Shard } from './shard.ts';

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

const configOption = () => new Option('--config.file <file>', '(required) probe configuration file (YAML)').makeOptionMandatory();
const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
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
    .option('--web.config.file <file>', 'exporter-toolkit web config (TLS, basic auth); re-read on reload')
    .option('--web.enable-lifecycle', 'serve POST /-/reload (SIGHUP always reloads)')
    .option('--shard.index <n|auto>', "this agent's shard, 0-based; auto: $HOOKWATCH_SHARD_INDEX or the host name's trailing -N (StatefulSet ordinal)")
    .option('--shard.count <n>', 'number of shards sharing the configuration; each probe runs on exactly one')
    .addHelpText(
      'after',
      examples(
        'hookwatch run --config.file /etc/hookwatch/hookwatch.yaml',
        'hookwatch run --config.file probes.yaml --web.listen-address 127.0.0.1:9877 --log.format logfmt',
      ),
    ),
).action(async (o: Record<string, string | boolean>) => {
  let shard: Shard;
  try {
    shard = resolveShard({ index: o['shard.index'] as string | undefined, count: o['shard.count'] as string | undefined });
  } catch (e) {
    throw new ExitError(2, (e as Error).message);
  }
  const runLogs = new RunLogStore();
  const log = createLogger({ level: o['log.level'] as string, format: o['log.format'] as LogFormat, sink: runLogs.sink });
  const agent = new Agent({
    configFile: o['config.file'] as string,
    kinds: PROBE_KINDS,
    log,
    runLogs,
    listenAddress: o['web.listenAddress'] as string,
    webConfigFile: o['web.config.file'] as string | undefined,
    enableLifecycle: o['web.enableLifecycle'] === true,
    shard,
  });
  // Before starting, so a SIGHUP during start-up (a config manager racing the start) never kills the
  // process; one that came while the modules loaded (bin/hookwatch.js noted it) is applied too.
  // The launcher's listener is kept, not replaced: removing a signal's last listener stops Node's
  // watcher and drops a SIGHUP already queued. It calls the hook set here from now on.
  const proc = process as unknown as Record<symbol, unknown>;
  const reload = () => agent.requestReload();
  proc[Symbol.for('hookwatch.onSighup')] = reload;
  if (process.listenerCount('SIGHUP') === 0) process.on('SIGHUP', reload);
  const early = proc[Symbol.for('hookwatch.earlySighup')] === true;
  if (early) agent.requestReload();
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
  try {
    await agent.start();
  } catch (e) {
    if (e instanceof ConfigError) throw new ExitError(2, `config invalid, not starting:\n${e.message}`);
    throw new ExitError(1, `cannot start: ${(e as Error).message}`);
  }
  const a = agent.address();
  log.info({ address: a ? `${a.host}:${a.port}` : undefined }, 'listening');
  if (shard.count > 1) log.info({ shard: shard.index, shards: shard.count }, 'sharded: running only the probes this shard owns');
});

program
  .command('check')
  .description('validate a configuration file (exit 0 valid, 1 invalid, 2 usage error)')
  .addOption(configOption())
  .addHelpText('after', examples('hookwatch check --config.file /etc/hookwatch/hookwatch.yaml'))
  .option('--shard.count <n>', 'also print which shard runs each probe')
  .action((o: Record<string, string>) => {
    const c = loadOrExit(o['config.file']!, 1);
    out(`config OK: ${c.probes.length} probe(s), ${Object.keys(c.sources).length} source(s)`);
    for (const p of c.probes) out(formatScheduleInfo(scheduleInfo(p, c, PROBE_KINDS)));
    if (o['shard.count'] !== undefined) {
      let shard: Shard;
      try {
        shard = resolveShard({ count: o['shard.count'] });
      } catch (e) {
        throw new ExitError(2, (e as Error).message);
      }
      for (let i = 0; i < shard.count; i++)
        out(
          `shard ${i}: ${
            shardConfig(c, { index: i, count: shard.count })
              .probes.map((p) => p.name)
              .join(', ') || '(none)'
          }`,
        );
    }
  });

program
  .command('once')
  .description('run probes once and print verdicts (exit 0 all pass, 1 any fail, 2 usage/config error)')
  .addOption(configOption())
  .option('--probe <name>', 'probe to run, repeatable (all when omitted)', (v: string, acc: string[] = []) => [...acc, v])
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
  // error by default: a failing probe's reason is in the verdict already; its warn lines would repeat it.
  .addOption(new Option('--log.level <level>', 'log level (logs go to stderr)').choices(['debug', 'info', 'warn', 'error']).default('error'))
  .addHelpText(
    'after',
    examples(
      'hookwatch once --config.file /etc/hookwatch/hookwatch.yaml',
      'hookwatch once --config.file /etc/hookwatch/hookwatch.yaml --probe internal-dns --probe internal-synthetic',
      "hookwatch once --config.file /etc/hookwatch/hookwatch.yaml --format json | jq '.probes[] | select(.ok == false)'",
    ),
  )
  .action(async (o: Record<string, unknown>) => {
    const config = loadOrExit(o['config.file'] as string, 2);
    const wanted = (o.probe as string[] | undefined) ?? [];
    const names = config.probes.map((p) => p.name);
    const unknown = wanted.filter((n) => !names.includes(n));
    if (unknown.length) throw new ExitError(2, `unknown probe(s): ${unknown.join(', ')}; configured: ${names.join(', ')}`);
    const log = createLogger({ level: o['log.level'] as string });
    const registry = new MetricRegistry({ processMetrics: false });
    const scheduler = new Scheduler({ registry, log, kinds: PROBE_KINDS });
    scheduler.apply(config);
    const selected = wanted.length ? wanted : names;
    const recs = await Promise.all(selected.map(async (n) => ({ p: config.probes.find((x) => x.name === n)!, rec: await scheduler.runOnce(n) })));
    await scheduler.stop(100);
    const runbook = (type: string) => PROBE_KINDS.find((k) => k.type === type)?.runbook;
    const plain = recs.map(({ p, rec }) => runView(p.name, p.type, rec, { history: scheduler.history.get(p.name), runbook: runbook(p.type) }));
    const causes = rootCauses(plain, (n) => destinationsOf({ registry }, n));
    const views = plain.map((v) => ({ ...v, likelyRootCause: causes.get(v.name) ?? null }));
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
  .option('--apply', 'actually redeliver (without it: a dry run that only lists)')
  .option(
    '--send-missing',
    'also post paid events BTCPay never attempted, signed with the webhook secret of a btcpay-signing synthetic probe (dry run unless --apply)',
  )
  .option('--record-file <path>', 'where --send-missing records what it sent (default: .hookwatch-send-missing.jsonl beside the config)')
  .option('--pending <duration>', 'a retry younger than this means BTCPay is still on it (default: its longest retry gap plus one attempt timeout, 12m40s)')
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
  .addHelpText(
    'after',
    examples(
      'hookwatch redeliver --config.file /etc/hookwatch/hookwatch.yaml --probe btcpay-delivery --since 6h',
      'hookwatch redeliver --config.file /etc/hookwatch/hookwatch.yaml --probe btcpay-delivery --since 6h --apply',
    ),
  )
  .action(async (o: Record<string, unknown>) => {
    const config = loadOrExit(o['config.file'] as string, 2);
    const probe = config.probes.find((p) => p.name === o.probe);
    const kind = probe && probeKind(probe.type);
    const declared = kind && declaredSource(kind, probe, config, 'btcpay');
    const scope = declared && kind.redeliveryScope?.(probe);
    if (!declared || !scope) throw new ExitError(2, `probe "${String(o.probe)}" not found or does not watch BTCPay webhook deliveries`);
    let source = declared;
    if (source.stores) {
      const store = o.store as string | undefined;
      if (!store) throw new ExitError(2, `source "${source.name}" watches several stores: pass --store ID`);
      if (Array.isArray(source.stores) && !source.stores.includes(store))
        throw new ExitError(2, `store "${store}" is not one of the stores of source "${source.name}"`);
      const { stores: _all, ...one } = source;
      source = { ...one, storeId: store };
    }
    const sinceMs = parseDuration(o.since as string);
    if (sinceMs === undefined) throw new ExitError(2, `invalid --since "${String(o.since)}"`);
    const pendingMs = o.pending === undefined ? undefined : parseDuration(o.pending as string);
    if (o.pending !== undefined && pendingMs === undefined) throw new ExitError(2, `invalid --pending "${o.pending as string}"`);
    const { runRedeliverCommand, webhookSecretsFromConfig, defaultRecordFile } = await import('./commands/redeliver/index.ts');
    const sendMissing =
      o.sendMissing === true
        ? { secrets: webhookSecretsFromConfig(config), recordFile: (o.recordFile as string | undefined) ?? defaultRecordFile(config.file) }
        : undefined;
    const code = await runRedeliverCommand({
      source,
      ...scope,
      sinceMs,
      pendingSeconds: pendingMs === undefined ? undefined : pendingMs / 1000,
      apply: o.apply === true,
      format: o.format as 'text' | 'json',
      out,
      ...(sendMissing ? { sendMissing } : {}),
    });
    process.exitCode = code;
  });

program
  .command('verify')
  .description(
    "migration sign-off for one webhook host: the sender's resolver serves the new address and the test webhook arrives (exit 0 signed off, 1 not, 2 usage/config error)",
  )
  .addOption(configOption())
  .requiredOption('--host <host>', '(required) the webhook destination host that moved')
  .option(
    '--expect <ip>',
    'the address the host must resolve to now, repeatable (default: what its authoritative servers serve)',
    (v: string, acc: string[] = []) => [...acc, v],
  )
  .option('--resolver <addr>', 'the sender\'s resolver, "system" or IP:PORT (default: global.resolver of the config)')
  .option(
    '--authoritative <addr>',
    'an authoritative server IP:PORT, repeatable (default: from the config, else discovered)',
    (v: string, acc: string[] = []) => [...acc, v],
  )
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
  .addHelpText(
    'after',
    examples(
      'hookwatch verify --config.file /etc/hookwatch/hookwatch.yaml --host hooks.example.com --expect 203.0.113.7',
      'hookwatch verify --config.file /etc/hookwatch/hookwatch.yaml --host hooks.example.com --format json',
    ),
  )
  .action(async (o: Record<string, unknown>) => {
    const config = loadOrExit(o['config.file'] as string, 2);
    const { verifyHost, formatVerify, isIp } = await import('./commands/verify.ts');
    const expect = (o.expect as string[] | undefined) ?? [];
    const bad = expect.filter((x) => !isIp(x));
    if (bad.length) throw new ExitError(2, `--expect takes IP addresses, got: ${bad.join(', ')}`);
    const report = await verifyHost({
      config,
      kinds: PROBE_KINDS,
      host: o.host as string,
      expect,
      resolver: o.resolver as string | undefined,
      authoritative: o.authoritative as string[] | undefined,
    });
    out(o.format === 'json' ? JSON.stringify(report, null, 2) : formatVerify(report));
    process.exitCode = report.ok ? 0 : 1;
  });

program
  .command('demo')
  .description('run the agent against a simulated BTCPay store, receiver and DNS on loopback')
  .option('--web.listen-address <addr>', 'address to listen on', '127.0.0.1:9877')
  .option('--keep', 'after the story, keep everything running until Ctrl-C (to try once, redeliver and the page)')
  .addHelpText('after', examples('hookwatch demo', 'hookwatch demo --keep'))
  .action(async (o: Record<string, unknown>) => {
    const { runDemo } = await import('./demo/run.ts');
    process.exitCode = await runDemo({ listenAddress: o['web.listenAddress'] as string, keep: o.keep === true, out });
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof ExitError) {
    err(e.message);
    process.exitCode = e.code;
  } else if (e instanceof CommanderError) {
    // Usage errors exit 2 in every command (`check` keeps 1 for an invalid config).
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
  } else {
    // Never a stack trace (paths, and whatever the error text carries): the message, and exit 2.
    err(`hookwatch: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 2;
  }
}
