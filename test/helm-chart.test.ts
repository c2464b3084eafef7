// helm/hookwatch rendered by the real helm binary: lint, then every object parsed and checked
// (arguments, probes, hardening, secrets as files, config checksum, optional ServiceMonitor,
// PrometheusRule equal to alerts/hookwatch.rules.yml), and the rendered config accepted by
// `hookwatch check`. helm is built by scripts/install-test-deps.sh into ~/.cache/hookwatch/bin.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { ROOT, runCli } from './helpers/agent-process.ts';

// helm is not a Debian package: look in the tools cache too (same default as install-test-deps.sh).
const TOOLS_DIR = process.env.HOOKWATCH_TOOLS_DIR ?? join(homedir(), '.cache', 'hookwatch', 'bin');
if (!(process.env.PATH ?? '').split(':').includes(TOOLS_DIR)) process.env.PATH = `${TOOLS_DIR}:${process.env.PATH ?? ''}`;

const CHART = join(ROOT, 'helm', 'hookwatch');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

function helm(args: string[]): { code: number | null; out: string; stdout: string } {
  const r = spawnSync(bin('helm'), args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function render(values: Record<string, unknown> | string | undefined, release = 'hw', namespace = 'payments'): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-helm-'));
  try {
    const args = ['template', release, CHART, '--namespace', namespace];
    if (typeof values === 'string') args.push('-f', values);
    else if (values) {
      writeFileSync(join(dir, 'values.yaml'), stringify(values));
      args.push('-f', join(dir, 'values.yaml'));
    }
    const r = helm(args);
    if (r.code !== 0) throw new Error(r.out);
    return parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => !!o);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
const one = (objs: K8sObject[], kind: string, name?: string) => {
  const found = byKind(objs, kind).filter((o) => !name || o.metadata.name === name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

describe('helm chart: files kept in sync', () => {
  it('carries exact copies of the rules and the dashboard (helm cannot read outside the chart)', () => {
    expect(readFileSync(join(CHART, 'files', 'hookwatch.rules.yml'), 'utf8')).toBe(readFileSync(join(ROOT, 'alerts', 'hookwatch.rules.yml'), 'utf8'));
    expect(readFileSync(join(CHART, 'files', 'hookwatch-dashboard.json'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'alerts', 'grafana', 'hookwatch-dashboard.json'), 'utf8'),
    );
  });
});

describe.skipIf(missingBinaries('helm'))('helm chart: rendered by helm', () => {
  it('passes helm lint with the defaults and with every feature on', () => {
    for (const extra of [[], ['-f', join(CHART, 'ci', 'full-values.yaml')]]) {
      const r = helm(['lint', '--strict', CHART, ...extra]);
      expect(r.out).toContain('0 chart(s) failed');
      expect(r.code, r.out).toBe(0);
    }
  });

  it('renders a hardened Deployment that runs the agent with its config, health checks and resources', () => {
    const objs = render(undefined);
    expect(byKind(objs, 'ServiceMonitor')).toHaveLength(0);
    expect(byKind(objs, 'PrometheusRule')).toHaveLength(0);
    const dep = one(objs, 'Deployment', 'hw-hookwatch');
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(c.args).toEqual(expect.arrayContaining(['run', '--config.file=/etc/hookwatch/config/hookwatch.yaml', '--web.listen-address=:9877']));
    expect(c.ports).toEqual([{ name: 'http', containerPort: 9877, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/-/healthy', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/-/ready', port: 'http' });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits.memory).toBeTruthy();
    expect(pod.automountServiceAccountToken).toBe(false);
    // The config file the args name is the ConfigMap key mounted at that path.
    const mount = c.volumeMounts.find((m: { name: string }) => m.name === 'config');
    expect(mount.mountPath).toBe('/etc/hookwatch/config');
    const vol = pod.volumes.find((v: { name: string }) => v.name === 'config');
    const cm = one(objs, 'ConfigMap', vol.configMap.name);
    expect(Object.keys(cm.data!)).toEqual(['hookwatch.yaml']);
    // Read-only root: a writable /tmp is mounted.
    expect(c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/tmp')).toBeTruthy();
    // The Service reaches the pod's named port with the pod's labels.
    const svc = one(objs, 'Service', 'hw-hookwatch');
    expect(svc.spec.ports[0]).toMatchObject({ name: 'http', port: 9877, targetPort: 'http' });
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(dep.spec.template.metadata.labels[k]).toBe(v);
    expect(dep.spec.selector.matchLabels).toEqual(svc.spec.selector);
  });

  it('puts the probe YAML from values into the ConfigMap and rolls the pods when it changes', () => {
    const config = {
      global: { interval: '30s', timeout: '5s', resolver: 'system' },
      sources: {},
      probes: [{ name: 'internal-dns', type: 'dns_drift', hosts: ['internal.example.com'] }],
    };
    const a = render({ config });
    expect(parse(one(a, 'ConfigMap', 'hw-hookwatch').data!['hookwatch.yaml']!)).toEqual(config);
    const checksum = (objs: K8sObject[]) => one(objs, 'Deployment').spec.template.metadata.annotations['checksum/config'] as string;
    expect(checksum(a)).toMatch(/^[0-9a-f]{64}$/);
    const b = render({ config: { ...config, probes: [{ ...config.probes[0], hosts: ['other.example.com'] }] } });
    expect(checksum(b)).not.toBe(checksum(a));
    const c = render({ config, replicaCount: 2, podAnnotations: { team: 'payments' } });
    expect(checksum(c)).toBe(checksum(a));
    expect(one(c, 'Deployment').spec.template.metadata.annotations.team).toBe('payments');
  });

  it('renders a config that `hookwatch check` accepts', async () => {
    const config = {
      global: { interval: '60s', timeout: '10s', resolver: 'system' },
      probes: [{ name: 'internal-dns', type: 'dns_drift', hosts: ['internal.example.com'], resolver: '127.0.0.1:53' }],
    };
    const yamlText = one(render({ config }), 'ConfigMap').data!['hookwatch.yaml']!;
    const dir = mkdtempSync(join(tmpdir(), 'hookwatch-helm-check-'));
    try {
      writeFileSync(join(dir, 'hookwatch.yaml'), yamlText);
      const r = await runCli(['check', '--config.file', join(dir, 'hookwatch.yaml')]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mounts existing Secrets as read-only files and never renders a Secret itself', () => {
    const objs = render(join(CHART, 'ci', 'full-values.yaml'));
    expect(byKind(objs, 'Secret')).toHaveLength(0);
    const pod = one(objs, 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    const secrets = pod.volumes.filter((v: { secret?: unknown }) => v.secret);
    expect(secrets.map((v: { secret: { secretName: string } }) => v.secret.secretName).sort()).toEqual(['hookwatch-secrets', 'pg-credentials']);
    for (const v of secrets) {
      const m = c.volumeMounts.find((x: { name: string }) => x.name === v.name);
      expect(m.readOnly).toBe(true);
      expect(v.secret.defaultMode).toBe(0o440);
    }
    expect(c.volumeMounts.find((m: { name: string }) => m.name === 'secrets').mountPath).toBe('/etc/hookwatch/secrets');
    // The probe config refers to the mounted file, not to a value.
    const cfg = parse(one(objs, 'ConfigMap', 'hw-hookwatch').data!['hookwatch.yaml']!);
    expect(cfg.sources.btcpay.apiKey).toEqual({ file: '/etc/hookwatch/secrets/btcpay-api-key' });
    expect(c.env).toEqual([{ name: 'WEBHOOK_SECRET', valueFrom: { secretKeyRef: { name: 'hookwatch-secrets', key: 'webhook-secret' } } }]);
  });

  it('renders the optional ServiceMonitor, PrometheusRule (the alerts file) and dashboard', () => {
    const objs = render(join(CHART, 'ci', 'full-values.yaml'));
    const svc = one(objs, 'Service');
    const sm = one(objs, 'ServiceMonitor');
    expect(sm.metadata.labels!.release).toBe('kube-prometheus-stack');
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) expect(svc.metadata.labels![k]).toBe(v);
    expect(sm.spec.namespaceSelector.matchNames).toEqual(['payments']);

    const pr = one(objs, 'PrometheusRule');
    expect(pr.metadata.labels!.release).toBe('kube-prometheus-stack');
    const base = 'https://git.example.com/ops/hookwatch/blob/main/alerts/runbooks/';
    const expected = parse(
      readFileSync(join(ROOT, 'alerts', 'hookwatch.rules.yml'), 'utf8').replaceAll('runbook_url: alerts/runbooks/', `runbook_url: ${base}`),
    );
    expect(pr.spec).toEqual(expected);
    const alerts = pr.spec.groups.flatMap((g: { rules: Array<{ alert?: string; annotations?: Record<string, string> }> }) => g.rules.filter((r) => r.alert));
    expect(alerts.length).toBeGreaterThan(10);
    for (const r of alerts) expect(r.annotations!.runbook_url).toBe(`${base}${r.alert}.md`);
    // Prometheus template syntax survives Helm untouched.
    expect(JSON.stringify(pr.spec)).toContain('{{ $labels.host }}');

    const dash = one(objs, 'ConfigMap', 'hw-hookwatch-dashboard');
    expect(dash.metadata.labels!.grafana_dashboard).toBe('1');
    expect(JSON.parse(dash.data!['hookwatch-dashboard.json']!).uid).toBe('hookwatch-overview');
  });

  it('keeps the repo-relative runbook path when no base URL is set', () => {
    const pr = one(render({ prometheusRule: { enabled: true } }), 'PrometheusRule');
    expect(pr.spec).toEqual(parse(readFileSync(join(ROOT, 'alerts', 'hookwatch.rules.yml'), 'utf8')));
  });
});
