// deploy/image: the image built by deploy/image/build.sh (buildah, no daemon) is one OCI index with linux/amd64
// and linux/arm64; each runs the production build as UID 65532 with no shell, exposes 9877, and carries the OCI
// labels. The amd64 image's entrypoint runs in a chroot of its unpacked, read-only root filesystem as 65532 with
// a sample config and serves /metrics; the arm64 image is checked structurally (platform, ELF machine, loader)
// and, where qemu-user is installed, runs `hookwatch check` with its own Node and libraries under emulation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingBinaries, REQUIRE_DAEMONS } from './helpers/daemons.ts';
import { LAUNCHER_ENV, LAUNCHER_NODE_FLAGS, ROOT, waitFor } from './helpers/agent-process.ts';
import { blob, elfArch, elfInterpreter, imageDir, tagged, type Descriptor } from './helpers/image.ts';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ARCHES = ['amd64', 'arm64'] as const;

function notRoot(): string | undefined {
  if (process.getuid?.() === 0) return undefined;
  const reason = 'SKIPPED: the image test unpacks and chroots, which needs root';
  if (REQUIRE_DAEMONS) throw new Error(`${reason}; HOOKWATCH_REQUIRE_DAEMONS=1 forbids skipping`);
  console.warn(`\n*** ${reason} ***\n`);
  return reason;
}

interface ImageConfig {
  architecture: string;
  os: string;
  config: {
    User?: string;
    Entrypoint?: string[];
    Cmd?: string[];
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Labels?: Record<string, string>;
    WorkingDir?: string;
    Healthcheck?: { Test: string[] };
  };
}

const skip = missingBinaries('buildah', 'umoci', 'skopeo', 'unshare', 'chroot') ?? notRoot();

describe.skipIf(skip)('container image', () => {
  let out: string;
  let layout: string;
  let work: string;
  const rootfs: Record<string, string> = {};
  const manifests: Record<string, { config: Descriptor; layers: Descriptor[] }> = {};
  const configs: Record<string, ImageConfig> = {};

  beforeAll(() => {
    out = imageDir();
    layout = join(out, 'oci');
    work = mkdtempSync(join(tmpdir(), 'hookwatch-image-'));
    for (const a of ARCHES) {
      const m = blob<{ config: Descriptor; layers: Descriptor[] }>(layout, tagged(layout, `${VERSION}-${a}`).digest);
      manifests[a] = m;
      configs[a] = blob<ImageConfig>(layout, m.config.digest);
      const bundle = join(work, a);
      const r = spawnSync('umoci', ['unpack', '--image', `${layout}:${VERSION}-${a}`, bundle], { encoding: 'utf8', timeout: 300_000 });
      if (r.status !== 0) throw new Error(`umoci unpack ${a}: ${r.stderr}`);
      rootfs[a] = join(bundle, 'rootfs');
    }
  }, 25 * 60_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('is one OCI index holding linux/amd64 and linux/arm64', () => {
    const index = tagged(layout, VERSION);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const list = blob<{ manifests: Descriptor[] }>(layout, index.digest);
    expect(list.manifests.map((m) => `${m.platform!.os}/${m.platform!.architecture}`).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    for (const m of list.manifests) {
      expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      const arch = m.platform!.architecture;
      expect(blob<ImageConfig>(layout, blob<{ config: Descriptor }>(layout, m.digest).config.digest).architecture).toBe(arch);
    }
    // skopeo reads the same index from the archive CI would push.
    const r = spawnSync('skopeo', ['inspect', '--raw', `oci-archive:${join(out, 'hookwatch.oci.tar')}`], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { manifests: Descriptor[] }).manifests.map((m) => m.platform!.architecture).sort()).toEqual(['amd64', 'arm64']);
  });

  it('runs hookwatch as 65532 with no shell, exposes 9877, and carries the OCI labels', () => {
    for (const a of ARCHES) {
      const c = configs[a]!;
      expect(c.os).toBe('linux');
      expect(c.architecture).toBe(a);
      expect(c.config.User).toBe('65532:65532');
      // The launcher's node flags, spelled out (distroless has no /usr/bin/env to read its first line).
      expect(c.config.Entrypoint).toEqual(['/nodejs/bin/node', ...LAUNCHER_NODE_FLAGS, '/app/bin/hookwatch.js']);
      expect(c.config.Cmd).toEqual(['run', '--config.file=/etc/hookwatch/hookwatch.yaml', '--web.listen-address=:9877']);
      expect(Object.keys(c.config.ExposedPorts ?? {})).toEqual(['9877/tcp']);
      expect(c.config.Env).toContain('NODE_ENV=production');
      // ...and the environment of its first line.
      expect(Object.keys(LAUNCHER_ENV)).toContain('MALLOC_MMAP_THRESHOLD_');
      for (const [k, v] of Object.entries(LAUNCHER_ENV)) expect(c.config.Env).toContain(`${k}=${v}`);
      const labels = c.config.Labels ?? {};
      expect(labels['org.opencontainers.image.version']).toBe(VERSION);
      expect(labels['org.opencontainers.image.title']).toBe('hookwatch');
      expect(labels['org.opencontainers.image.licenses']).toBe('Apache-2.0');
      expect(labels['org.opencontainers.image.revision']).toMatch(/^[0-9a-f]{7,}$/);
      expect(labels['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT/);
      const r = rootfs[a]!;
      for (const sh of ['bin/sh', 'bin/bash', 'usr/bin/sh', 'bin/busybox']) expect(existsSync(join(r, sh)), `${a}: ${sh}`).toBe(false);
      // The package's production install: the build, no TypeScript sources, no dev dependencies.
      expect(existsSync(join(r, 'app/dist/src/cli.js'))).toBe(true);
      expect(existsSync(join(r, 'app/src'))).toBe(false);
      for (const dev of ['tsx', 'esbuild', 'typescript', 'vitest']) expect(existsSync(join(r, 'app/node_modules', dev)), `${a}: ${dev}`).toBe(false);
      const passwd = readFileSync(join(r, 'etc/passwd'), 'utf8');
      expect(passwd).toMatch(/^nonroot:x:65532:65532:/m);
    }
  });

  it('keeps the HEALTHCHECK on /-/healthy in the Docker-format variant', () => {
    const list = blob<{ manifests: Descriptor[] }>(layout, tagged(layout, `${VERSION}-docker`).digest);
    expect(list.manifests.map((m) => m.platform!.architecture).sort()).toEqual(['amd64', 'arm64']);
    for (const m of list.manifests) {
      const cfg = blob<ImageConfig>(layout, blob<{ config: Descriptor }>(layout, m.digest).config.digest);
      expect(cfg.config.Healthcheck?.Test).toEqual(['CMD', '/nodejs/bin/node', '/app/healthcheck.mjs']);
    }
    expect(readFileSync(join(rootfs.amd64!, 'app/healthcheck.mjs'), 'utf8')).toContain('/-/healthy');
  });

  it('arm64: node, its loader and libraries are AArch64 ELF; amd64: x86-64', () => {
    const loaders = { amd64: '/lib64/ld-linux-x86-64.so.2', arm64: '/lib/ld-linux-aarch64.so.1' };
    const triplets = { amd64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
    for (const a of ARCHES) {
      const r = rootfs[a]!;
      const node = join(r, 'nodejs/bin/node');
      expect(elfArch(node)).toBe(a);
      expect(elfInterpreter(node)).toBe(loaders[a]);
      expect(existsSync(join(r, loaders[a]))).toBe(true);
      for (const lib of ['libc.so.6', 'libm.so.6', 'libgcc_s.so.1']) expect(elfArch(join(r, 'lib', triplets[a], lib)), `${a} ${lib}`).toBe(a);
      expect(elfArch(join(r, 'usr/lib', triplets[a], 'libstdc++.so.6'))).toBe(a);
      // No native module sneaked into the production dependencies (they would be built for the build machine).
      const natives: string[] = [];
      const walk = (d: string) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else if (e.name.endsWith('.node')) natives.push(join(d, e.name));
        }
      };
      walk(join(r, 'app/node_modules'));
      expect(natives).toEqual([]);
    }
  });

  it('reports its size per architecture', () => {
    const sizes: string[] = [];
    for (const a of ARCHES) {
      const compressed = manifests[a]!.layers.reduce((s, l) => s + l.size, 0);
      const du = spawnSync('du', ['-sb', rootfs[a]!], { encoding: 'utf8' });
      const unpacked = Number(du.stdout.split('\t')[0]);
      sizes.push(`${a}: ${(compressed / 2 ** 20).toFixed(1)} MiB compressed, ${(unpacked / 2 ** 20).toFixed(1)} MiB unpacked`);
      // Node alone is ~120 MiB unpacked; anything far above means dev dependencies or a distro crept in.
      expect(unpacked).toBeLessThan(200 * 2 ** 20);
      expect(compressed).toBeLessThan(80 * 2 ** 20);
    }
    console.log(`image size: ${sizes.join('; ')}`);
  });

  // Beyond structure: the arm64 image's own loader, libraries and Node run hookwatch under user-mode emulation
  // (qemu-aarch64 -L ROOTFS: the loader and absolute paths resolve inside the unpacked image; no binfmt, no root).
  it.skipIf(missingBinaries('qemu-aarch64'))(
    'arm64: the image’s Node 24 runs `hookwatch check` under qemu-aarch64',
    () => {
      const r = rootfs.arm64!;
      const cfg = join(work, 'arm64-check.yaml');
      writeFileSync(cfg, 'probes:\n  - name: receiver\n    type: http\n    url: https://internal.example.com/healthz\n');
      const node = spawnSync('qemu-aarch64', ['-L', r, join(r, 'nodejs/bin/node'), '--version'], { encoding: 'utf8', timeout: 60_000 });
      expect(node.stdout.trim(), node.stderr).toMatch(/^v24\./);
      const check = spawnSync('qemu-aarch64', ['-L', r, join(r, 'nodejs/bin/node'), join(r, 'app/bin/hookwatch.js'), 'check', '--config.file', cfg], {
        encoding: 'utf8',
        timeout: 170_000,
        env: { NODE_ENV: 'production', PATH: '/usr/bin:/bin' },
      });
      expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    },
    180_000,
  );

  describe('amd64 entrypoint in a chroot of the read-only root filesystem', () => {
    let server: Server;
    let target: string;
    beforeAll(async () => {
      server = createServer((_req, res) => res.end('ok'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
    });
    afterAll(() => new Promise((r) => server.close(r)));

    it('runs as 65532 with a sample config and serves /metrics, /-/healthy and the health check script', async () => {
      const r = rootfs.amd64!;
      const etc = join(r, 'etc/hookwatch');
      mkdirSync(etc, { recursive: true });
      writeFileSync(join(etc, 'hookwatch.yaml'), `global: { interval: 60s, timeout: 5s }\nprobes:\n  - name: receiver\n    type: http\n    url: ${target}\n`);
      const probe = createServer();
      await new Promise<void>((res) => probe.listen(0, '127.0.0.1', res));
      const port = (probe.address() as AddressInfo).port;
      await new Promise((res) => probe.close(res));

      const cfg = configs.amd64!.config;
      const [user] = cfg.User!.split(':');
      // The image's entrypoint with `run` arguments of our own (a free loopback port instead of :9877).
      const argv = [...cfg.Entrypoint!, 'run', '--config.file=/etc/hookwatch/hookwatch.yaml', `--web.listen-address=127.0.0.1:${port}`];
      const script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift 2 && exec chroot --userspec="$0:$0" "$ROOTFS" "$@"';
      const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, user!, r, 'x', ...argv], {
        // The image's environment; PATH only for finding mount and chroot on this machine.
        env: {
          ...Object.fromEntries(cfg.Env!.map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string])),
          ROOTFS: r,
          PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let logs = '';
      child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
      child.stderr.on('data', (d: Buffer) => (logs += d.toString()));
      try {
        const metrics = await waitFor(
          async () => {
            if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${logs}`);
            const t = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
            return /hookwatch_probe_success\{[^}]*probe="receiver"[^}]*\} 1/.test(t) && t;
          },
          { timeoutMs: 30_000, what: 'a passing probe from the image' },
        );
        expect(metrics).toContain('hookwatch_config_last_reload_successful 1');
        expect((await fetch(`http://127.0.0.1:${port}/-/healthy`)).status).toBe(200);
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('65532');
        expect(/^Gid:\s+(\d+)/m.exec(status)?.[1]).toBe('65532');
        expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').slice(1, -4)).toEqual([...LAUNCHER_NODE_FLAGS, '/app/bin/hookwatch.js']);
        const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
        for (const [k, v] of Object.entries(LAUNCHER_ENV)) expect(environ).toContain(`${k}=${v}`);
        // The HEALTHCHECK command, run the same way.
        const hc = spawnSync('chroot', [`--userspec=${user}:${user}`, r, ...configs.amd64!.config.Entrypoint!.slice(0, 1), '/app/healthcheck.mjs'], {
          env: { HOOKWATCH_HEALTH_URL: `http://127.0.0.1:${port}/-/healthy`, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
          timeout: 30_000,
        });
        expect(hc.status, String(hc.stderr)).toBe(0);
        // The Node 24 runtime.
        const v = spawnSync('chroot', [`--userspec=${user}:${user}`, r, '/nodejs/bin/node', '--version'], {
          encoding: 'utf8',
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        });
        expect(v.stdout.trim()).toMatch(/^v24\./);
        // Nothing was written to the root filesystem (it is mounted read-only for the agent).
        expect(logs).not.toMatch(/EROFS|read-only file system/i);
      } finally {
        child.kill('SIGTERM');
        await new Promise((res) => (child.exitCode !== null ? res(null) : child.once('exit', res)));
      }
      expect(statSync(join(r, 'app/bin/hookwatch.js')).isFile()).toBe(true);
    }, 60_000);
  });
});
