// High availability around the agents, with real Alertmanagers on loopback and the example routing:
// - two clustered Alertmanagers (gossip on loopback) that both receive the same alert, as every Prometheus
//   sends to every Alertmanager, notify once; two unclustered ones notify twice (the control);
// - the same alert from an HA pair of agents (differing only in `instance`) is one notification.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, missingBinaries } from './helpers/daemons.ts';
import { waitFor } from './helpers/agent-process.ts';
import { freePort, startSink, testAlertmanagerConfig } from './alerts-stack.ts';

interface Am {
  url: string;
  child: ChildProcess;
  dir: string;
}
const started: Am[] = [];

async function startAm(config: string, cluster?: { listen: number; peers: number[] }): Promise<Am> {
  const dir = mkdtempSync(join(tmpdir(), 'hookwatch-am-ha-'));
  writeFileSync(join(dir, 'am.yml'), config);
  const port = await freePort();
  const clusterArgs = cluster
    ? [
        `--cluster.listen-address=127.0.0.1:${cluster.listen}`,
        ...cluster.peers.map((p) => `--cluster.peer=127.0.0.1:${p}`),
        '--cluster.settle-timeout=2s',
        '--cluster.peer-timeout=4s',
        '--cluster.gossip-interval=100ms',
        '--cluster.pushpull-interval=1s',
      ]
    : ['--cluster.listen-address='];
  const child = spawn(
    bin('prometheus-alertmanager'),
    [
      `--config.file=${join(dir, 'am.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...clusterArgs,
    ],
    {
      stdio: 'ignore',
    },
  );
  const am = { url: `http://127.0.0.1:${port}`, child, dir };
  started.push(am);
  await waitFor(async () => (await fetch(`${am.url}/-/ready`).catch(() => undefined))?.ok, { timeoutMs: 20_000, what: 'alertmanager ready' });
  return am;
}

afterEach(async () => {
  await Promise.all(
    started.splice(0).map(
      (am) =>
        new Promise<void>((r) => {
          const done = () => {
            rmSync(am.dir, { recursive: true, force: true });
            r();
          };
          if (am.child.exitCode !== null) return done();
          am.child.once('exit', done);
          am.child.kill('SIGTERM');
        }),
    ),
  );
});

const alert = (instance: string) => ({
  labels: {
    alertname: 'HookwatchDNSDrift',
    severity: 'page',
    condition: 'stale',
    job: 'hookwatch',
    instance,
    probe: 'pay-dns',
    host: 'shop.example.com',
    destination: 'shop.example.com',
  },
  annotations: { summary: 'DNS drift on shop.example.com' },
  startsAt: new Date().toISOString(),
});

async function post(am: Am, alerts: unknown[]): Promise<void> {
  const r = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
  expect(r.ok).toBe(true);
}

describe.skipIf(missingBinaries('prometheus-alertmanager'))('Alertmanager HA with the example routing', () => {
  const timing = { group_wait: '1s', group_interval: '2s', repeat_interval: '1h' };

  it('two clustered Alertmanagers receiving the same alert page once; unclustered ones page twice', async () => {
    for (const clustered of [true, false]) {
      const sink = await startSink();
      try {
        const config = testAlertmanagerConfig(sink.url, timing);
        const [p1, p2] = [await freePort(), await freePort()];
        const a = await startAm(config, clustered ? { listen: p1, peers: [p2] } : undefined);
        const b = await startAm(config, clustered ? { listen: p2, peers: [p1] } : undefined);
        if (clustered) {
          await waitFor(async () => ((await (await fetch(`${a.url}/api/v2/status`)).json()) as { cluster: { peers: unknown[] } }).cluster.peers.length === 2, {
            timeoutMs: 15_000,
            what: 'the two Alertmanagers to see each other',
          });
        }
        await Promise.all([post(a, [alert('hookwatch-0:9877')]), post(b, [alert('hookwatch-0:9877')])]);
        const pages = () => sink.notifications.filter((n) => n.receiver === 'pager' && n.status === 'firing');
        await waitFor(() => pages().length >= 1, { timeoutMs: 15_000, what: 'a page' });
        // The second Alertmanager waits peer-timeout (4 s) for the first one's notification log entry.
        await new Promise((r) => setTimeout(r, 9000));
        expect(pages(), clustered ? 'clustered' : 'unclustered').toHaveLength(clustered ? 1 : 2);
      } finally {
        await sink.stop();
      }
      for (const am of started) am.child.kill('SIGTERM');
    }
  }, 90_000);

  it('the same alert from two agents of an HA pair (different instance) is one notification listing both', async () => {
    const sink = await startSink();
    try {
      const am = await startAm(testAlertmanagerConfig(sink.url, timing));
      await post(am, [alert('hookwatch-a:9877'), alert('hookwatch-b:9877')]);
      const pages = () => sink.notifications.filter((n) => n.receiver === 'pager' && n.status === 'firing');
      await waitFor(() => pages().length >= 1, { timeoutMs: 15_000, what: 'a page' });
      await new Promise((r) => setTimeout(r, 2500));
      expect(pages()).toHaveLength(1);
      expect(
        pages()[0]!
          .alerts.map((a) => a.labels.instance)
          .sort(),
      ).toEqual(['hookwatch-a:9877', 'hookwatch-b:9877']);
    } finally {
      await sink.stop();
    }
  }, 60_000);
});
