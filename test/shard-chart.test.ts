// The chart's sharded mode, rendered by the real helm binary: a StatefulSet replaces the Deployment,
// its pods derive their shard from their ordinal, and the pod spec is the Deployment's plus the shard flags.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { ROOT } from './helpers/agent-process.ts';
import { ownsKey, resolveShard } from '../src/shard.ts';

// helm is not a Debian package: scripts/install-test-deps.sh builds it into this cache dir.
const TOOLS_DIR = process.env.HOOKWATCH_TOOLS_DIR ?? join(homedir(), '.cache', 'hookwatch', 'bin');
if (!(process.env.PATH ?? '').split(':').includes(TOOLS_DIR)) process.env.PATH = `${TOOLS_DIR}:${process.env.PATH ?? ''}`;
const CHART = join(ROOT, 'helm', 'hookwatch');

type Obj = { kind: string; metadata: { name: string }; spec?: any };

function helm(args: string[]) {
  const r = spawnSync(bin('helm'), args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function render(values: Record<string, unknown>): Obj[] {
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-shard-chart-'));
  try {
    writeFileSync(join(dir, 'values.yaml'), stringify(values));
    const r = helm(['template', 'hw', CHART, '--namespace', 'payments', '-f', join(dir, 'values.yaml')]);
    if (r.code !== 0) throw new Error(r.out);
    return parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as Obj | null)
      .filter((o): o is Obj => !!o);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(missingBinaries('helm'))('helm chart: sharded StatefulSet mode', () => {
  const config = {
    global: { interval: '60s' },
    probes: Array.from({ length: 12 }, (_, i) => ({ name: `dns-${i}`, type: 'dns_drift', hosts: [`h${i}.example.com`] })),
  };

  it('renders a StatefulSet (and no Deployment) whose pods are shard <ordinal> of <replicas>', () => {
    const objs = render({ config, sharding: { enabled: true, replicas: 3 } });
    expect(objs.filter((o) => o.kind === 'Deployment')).toEqual([]);
    const sts = objs.filter((o) => o.kind === 'StatefulSet');
    expect(sts).toHaveLength(1);
    const s = sts[0]!;
    expect(s.metadata.name).toBe('hw-hookwatch');
    expect(s.spec.replicas).toBe(3);
    expect(s.spec.podManagementPolicy).toBe('Parallel');
    const svc = objs.find((o) => o.kind === 'Service')!;
    expect(s.spec.serviceName).toBe(svc.metadata.name);
    // One Service only, so a ServiceMonitor scrapes each shard once; it selects the StatefulSet's pods.
    expect(objs.filter((o) => o.kind === 'Service')).toHaveLength(1);
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(s.spec.template.metadata.labels[k]).toBe(v);
    const args = s.spec.template.spec.containers[0].args as string[];
    expect(args).toEqual(expect.arrayContaining(['run', '--shard.index=auto', '--shard.count=3']));
    // Pods are named <statefulset>-<ordinal>; with these flags each resolves to its own index and together
    // they own every probe of the rendered config exactly once.
    const flag = (n: string) => args.find((a) => a.startsWith(`--shard.${n}=`))!.split('=')[1];
    const shards = [0, 1, 2].map((i) => resolveShard({ index: flag('index'), count: flag('count') }, {}, `${s.metadata.name}-${i}`));
    expect(shards.map((x) => x.index)).toEqual([0, 1, 2]);
    for (const p of config.probes) expect(shards.filter((sh) => ownsKey(sh, p.name))).toHaveLength(1);
  });

  it("keeps the pod spec identical to the Deployment's apart from the shard flags", () => {
    const values = { config, existingSecret: 's', extraEnv: [{ name: 'A', value: 'b' }], extraArgs: ['--log.level=debug'] };
    const dep = render(values).find((o) => o.kind === 'Deployment')!;
    const sts = render({ ...values, sharding: { enabled: true, replicas: 2 } }).find((o) => o.kind === 'StatefulSet')!;
    const strip = (pod: { containers: Array<{ args: string[] }> }) => ({
      ...pod,
      containers: pod.containers.map((c) => ({ ...c, args: c.args.filter((a) => !a.startsWith('--shard.')) })),
    });
    expect(strip(sts.spec.template.spec)).toEqual(dep.spec.template.spec);
    expect(sts.spec.template.metadata).toEqual(dep.spec.template.metadata);
  });

  it('renders the Deployment by default, passes helm lint in both modes and refuses zero replicas', () => {
    const objs = render({ config });
    expect(objs.filter((o) => o.kind === 'StatefulSet')).toEqual([]);
    expect(objs.filter((o) => o.kind === 'Deployment')).toHaveLength(1);
    for (const extra of [[], ['--set', 'sharding.enabled=true', '--set', 'sharding.replicas=4']]) {
      const r = helm(['lint', '--strict', CHART, ...extra]);
      expect(r.code, r.out).toBe(0);
    }
    expect(() => render({ config, sharding: { enabled: true, replicas: 0 } })).toThrow(
      /sharding\.replicas(: Must be greater than or equal to 1| must be at least 1)/,
    );
  });
});
