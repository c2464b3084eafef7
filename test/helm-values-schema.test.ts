// helm/hookwatch: values.schema.json validates the chart's values and, for `config`, hookwatch's own config schema
// (kept equal to `hookwatch schema` by the sync test), so helm lint/template refuse a typo instead of rendering a
// pod that crash-loops. Every object rendered from the defaults and from each ci/*-values.yaml is validated
// against the Kubernetes API schemas (kubernetes-models, prometheus-operator models). Also: digest pinning,
// dnsPolicy/dnsConfig, the opt-in NetworkPolicy and extraManifests.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { LAUNCHER_NODE_FLAGS, ROOT, runCli } from './helpers/agent-process.ts';

const TOOLS_DIR = process.env.HOOKWATCH_TOOLS_DIR ?? join(homedir(), '.cache', 'hookwatch', 'bin');
if (!(process.env.PATH ?? '').split(':').includes(TOOLS_DIR)) process.env.PATH = `${TOOLS_DIR}:${process.env.PATH ?? ''}`;

const CHART = join(ROOT, 'helm', 'hookwatch');
const CI_VALUES = readdirSync(join(CHART, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();

// apiVersion/kind -> the model whose validate() applies the Kubernetes OpenAPI schema of that kind.

const MODELS: Record<string, { new (o: any): { validate(): void } }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; spec?: any; data?: Record<string, string> };

function helm(args: string[]) {
  const r = spawnSync(bin('helm'), args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function template(values: string[] | Record<string, unknown>): { code: number | null; out: string; objects: K8sObject[] } {
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-helm-schema-'));
  try {
    let files = values as string[];
    if (!Array.isArray(values)) {
      writeFileSync(join(dir, 'v.yaml'), stringify(values));
      files = [join(dir, 'v.yaml')];
    }
    const r = helm(['template', 'hw', CHART, '--namespace', 'payments', ...files.flatMap((f) => ['-f', f])]);
    const objects =
      r.code === 0
        ? parseAllDocuments(r.stdout)
            .map((d) => d.toJS() as K8sObject | null)
            .filter((o): o is K8sObject => !!o)
        : [];
    return { ...r, objects };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('helm values.schema.json: in sync with hookwatch schema', () => {
  it('embeds exactly the config schema `hookwatch schema` prints (run scripts/sync-helm-schema.mjs after a change)', async () => {
    const r = await runCli(['schema']);
    expect(r.code).toBe(0);
    const { $schema: _s, $id: _i, ...config } = JSON.parse(r.stdout);
    const values = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    expect(values.properties.config).toEqual({ $ref: '#/definitions/hookwatchConfig' });
    expect(values.definitions.hookwatchConfig).toEqual(config);
  });
});

describe.skipIf(missingBinaries('helm'))('helm values.schema.json: helm refuses bad values', () => {
  const base = { config: { probes: [{ name: 'receiver-dns', type: 'dns_drift', hosts: ['internal.example.com'] }] } };

  it.each([
    [
      'a misspelt probe key',
      { config: { probes: [{ name: 'r', type: 'http', urll: 'https://x.example.com/' }] } },
      /config\.probes\.0: Additional property urll is not allowed/,
    ],
    ['an unknown probe type', { config: { probes: [{ name: 'r', type: 'dns-drift' }] } }, /config\.probes\.0/],
    ['an inline secret', { config: { sources: { b: { type: 'btcpay', url: 'https://b.example.com', apiKey: 'plain', storeId: 's' } } } }, /config\.sources\.b/],
    ['a bad duration', { config: { global: { interval: 'one minute' } } }, /config\.global\.interval/],
    ['a misspelt top-level key', { ...base, replicaCont: 2 }, /Additional property replicaCont is not allowed/],
    ['a malformed digest', { ...base, image: { repository: 'r', digest: 'sha256:xyz' } }, /image\.digest/],
    ['an unknown dnsPolicy', { ...base, dnsPolicy: 'ClusterFirstt' }, /dnsPolicy/],
    ['a misspelt networkPolicy key', { ...base, networkPolicy: { enabled: true, egres: {} } }, /networkPolicy: Additional property egres/],
    ['zero shard replicas', { ...base, sharding: { enabled: true, replicas: 0 } }, /sharding\.replicas/],
  ])('%s fails helm template and helm lint, naming the key', (_label, values, message) => {
    const r = template(values);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toMatch(message);
    const dir = mkdtempSync(join(tmpdir(), 'hookwatch-helm-lint-'));
    try {
      writeFileSync(join(dir, 'v.yaml'), stringify(values));
      const lint = helm(['lint', '--strict', CHART, '-f', join(dir, 'v.yaml')]);
      expect(lint.code, lint.out).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts a sharding object (the StatefulSet mode key)', () => {
    const r = template({ ...base, sharding: { enabled: false, replicas: 3 } });
    expect(r.code, r.out).toBe(0);
  });
});

describe.skipIf(missingBinaries('helm'))('helm chart: rendered objects against the Kubernetes API schemas', () => {
  it.each([['defaults'], ...CI_VALUES.map((f) => [f])])('%s: lints and every object validates', (name) => {
    const files = name === 'defaults' ? [] : [join(CHART, 'ci', name)];
    const lint = helm(['lint', '--strict', CHART, ...files.flatMap((f) => ['-f', f])]);
    expect(lint.code, lint.out).toBe(0);
    const r = template(files);
    expect(r.code, r.out).toBe(0);
    expect(r.objects.length).toBeGreaterThan(2);
    for (const o of r.objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      expect(Model, `no schema known for ${o.apiVersion} ${o.kind}`).toBeTruthy();
      expect(() => new Model!(o).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
    }
  });

  it('the schemas are really applied: a wrong type in a rendered Deployment fails', () => {
    const dep = template([]).objects.find((o) => o.kind === 'Deployment')!;
    dep.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => new Deployment(dep as object).validate()).toThrow(/containerPort/);
  });
});

describe.skipIf(missingBinaries('helm'))('helm chart: image, DNS, NetworkPolicy, extraManifests', () => {
  const pod = (objs: K8sObject[]) => objs.find((o) => o.kind === 'Deployment')!.spec.template.spec;

  it('references the image built from deploy/image, by tag (appVersion) or pinned by digest', () => {
    const chart = readFileSync(join(CHART, 'Chart.yaml'), 'utf8');
    const appVersion = /^appVersion: "?([^"\n]+)"?$/m.exec(chart)![1];
    expect(pod(template([]).objects).containers[0].image).toBe(`localhost/hookwatch:${appVersion}`);
    const pinned = pod(template([join(CHART, 'ci', 'pinned-dns-values.yaml')]).objects);
    expect(pinned.containers[0].image).toBe('registry.example.com/payments/hookwatch@sha256:3f1e5a3c9b0d2e4f6a8b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f7');
    expect(pinned.imagePullSecrets).toEqual([{ name: 'registry-credentials' }]);
    // The image's own entrypoint is hookwatch: the chart passes arguments only.
    expect(pinned.containers[0].command).toBeUndefined();
    // ...with the launcher's node flags (the chart sets no NODE_OPTIONS of its own).
    const entrypoint = JSON.stringify(['/nodejs/bin/node', ...LAUNCHER_NODE_FLAGS, '/app/bin/hookwatch.js']).replaceAll(',', ', ');
    expect(readFileSync(join(ROOT, 'deploy', 'image', 'Dockerfile'), 'utf8')).toContain(`ENTRYPOINT ${entrypoint}`);
  });

  it('mirrors dnsPolicy and dnsConfig when set, and leaves the cluster default otherwise', () => {
    const def = pod(template([]).objects);
    expect(def.dnsPolicy).toBeUndefined();
    expect(def.dnsConfig).toBeUndefined();
    const p = pod(template([join(CHART, 'ci', 'pinned-dns-values.yaml')]).objects);
    expect(p.dnsPolicy).toBe('None');
    expect(p.dnsConfig).toEqual({
      nameservers: ['169.254.20.10'],
      searches: ['btcpay.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      options: [{ name: 'ndots', value: '5' }],
    });
  });

  it('renders no NetworkPolicy by default; when enabled: Prometheus in, DNS anywhere, BTCPay and receivers out', () => {
    expect(template([]).objects.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
    const objs = template([join(CHART, 'ci', 'networkpolicy-values.yaml')]).objects;
    const np = objs.find((o) => o.kind === 'NetworkPolicy')!;
    const dep = objs.find((o) => o.kind === 'Deployment')!;
    expect(np.spec.podSelector.matchLabels).toEqual(dep.spec.selector.matchLabels);
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress).toEqual([
      {
        ports: [{ port: 'http', protocol: 'TCP' }],
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
          },
        ],
      },
    ]);
    const [dns, btcpay, receiver] = np.spec.egress;
    // No `to`: any destination, because dns_drift asks authoritative servers wherever they are.
    expect(dns).toEqual({
      ports: [
        { port: 53, protocol: 'UDP' },
        { port: 53, protocol: 'TCP' },
      ],
    });
    expect(btcpay.ports).toEqual([{ port: 49392, protocol: 'TCP' }]);
    expect(receiver).toEqual({ to: [{ ipBlock: { cidr: '203.0.113.10/32' } }], ports: [{ port: 443, protocol: 'TCP' }] });
    expect(np.spec.egress).toHaveLength(3);
  });

  it('renders extraManifests, objects and strings, through tpl', () => {
    const objs = template([join(CHART, 'ci', 'extra-manifests-values.yaml')]).objects;
    expect(objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'hw-notes')!.data).toEqual({ owner: 'payments' });
    const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget')!;
    expect(pdb.metadata.name).toBe('hw-pdb');
    expect(pdb.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/instance': 'hw' });
  });
});
