// The container image built by deploy/image/build.sh (buildah, cached by a hash of its inputs). CI builds it
// once before the suites and passes HOOKWATCH_IMAGE_DIR; otherwise the first test that needs it builds it.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './agent-process.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export function imageDir(): string {
  const given = process.env.HOOKWATCH_IMAGE_DIR;
  if (given && existsSync(join(given, 'done'))) return given;
  const r = spawnSync('bash', [join(ROOT, 'deploy', 'image', 'build.sh')], { cwd: ROOT, encoding: 'utf8', timeout: 20 * 60_000 });
  if (r.status !== 0) throw new Error(`deploy/image/build.sh failed (${r.status ?? r.signal}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r.stdout.trim().split('\n').pop()!;
}

/** A blob of the OCI layout, parsed as JSON. */
export function blob<T = any>(layout: string, digest: string): T {
  return JSON.parse(readFileSync(join(layout, 'blobs', ...digest.split(':')), 'utf8')) as T;
}

/** The descriptor of a tag in the layout's index.json. */
export function tagged(layout: string, tag: string): Descriptor {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const d = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!d) throw new Error(`tag ${tag} not in ${layout}`);
  return d;
}

/** The first bytes of a file (ELF headers sit at the start; no need to read a 100 MB binary). */
function head(file: string, n = 65536): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

const ELF_MACHINES: Record<number, string> = { 62: 'amd64', 183: 'arm64' };

/** The architecture an ELF file is built for (e_machine), or undefined when the file is not ELF. */
export function elfArch(file: string): string | undefined {
  const b = head(file, 20);
  if (b.length < 20 || b.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const machine = b[5] === 2 ? b.readUInt16BE(18) : b.readUInt16LE(18);
  return ELF_MACHINES[machine] ?? `machine-${machine}`;
}

/** The program interpreter (PT_INTERP) of a 64-bit little-endian ELF executable. */
export function elfInterpreter(file: string): string | undefined {
  const b = head(file);
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (b.readUInt32LE(p) === 3) {
      const off = Number(b.readBigUInt64LE(p + 8));
      const size = Number(b.readBigUInt64LE(p + 32));
      return b
        .subarray(off, off + size)
        .toString('latin1')
        .replace(/\0+$/, '');
    }
  }
  return undefined;
}
