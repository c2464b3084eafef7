#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=1 --heap-growing-percent=50 --optimize-for-size --no-opt --no-maglev
// The flags above trade CPU for memory, which suits an agent that runs beside a payment server: its live data is
// small, most of its time is spent waiting on sockets, and it is sized by the memory it reserves. A 1 MiB young
// generation and a fixed 1.5x old-generation growth keep the heap close to what is live; --optimize-for-size makes
// V8 collect and compact eagerly; without the optimising compilers (--no-opt, --no-maglev) there is no optimised
// code, deoptimisation data or compiler memory, and bytecode and baseline code run. What this buys and costs is
// measured in bench/RESULTS.md ("Memory by probe kind", "Start-up time and idle memory"). None of them is a cap:
// a bigger configuration gets a bigger heap, never an out-of-memory exit. The container image's entrypoint passes
// the same flags; `node bin/hookwatch.js` without them runs with V8's defaults (less CPU, more memory).
// MALLOC_MMAP_THRESHOLD_ pins glibc's mmap threshold at its initial 128 KiB. Left alone, glibc raises it each time
// a large block is freed, after which BTCPay's invoice-list bodies (megabytes each) are served from the malloc heap
// and their pages stay resident after they are freed; pinned, every block that big gets its own mapping and goes
// back to the kernel when freed (about 4 MiB less RSS at 500 probes, same CPU; other C libraries ignore it).
// Runs the production build (dist/, from `npm run build`) when it is there and up to date; in a checkout
// without a build, or with sources edited since, runs the TypeScript sources through tsx (a dev dependency).
// The published package ships dist/ only, so it never needs tsx.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// A SIGHUP (reload) while the modules load must not kill `run` (the default action); it is noted
// here, first of all, and applied once the agent has started (src/cli.ts).
// The listener stays for the life of the process: removing it would stop Node's signal watcher and drop a
// SIGHUP already queued. `run` later points the hook at the agent's reload.
if (process.argv[2] === 'run') {
  process.on('SIGHUP', () => {
    const hook = process[Symbol.for('hookwatch.onSighup')];
    if (typeof hook === 'function') hook();
    else process[Symbol.for('hookwatch.earlySighup')] = true;
  });
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'src', 'cli.js');
const source = join(root, 'src', 'cli.ts');

/** True when a TypeScript source under `dir` changed after the build finished (a few hundred stats, about a millisecond). */
function sourcesChangedSince(dir, builtAt) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && sourcesChangedSince(p, builtAt)) return true;
    } else if (e.name.endsWith('.ts') && statSync(p).mtimeMs > builtAt) return true;
  }
  return false;
}

/** Use the build when there are no sources (the installed package) or none changed since `npm run build`. */
function buildIsCurrent() {
  if (!existsSync(built)) return false;
  if (!existsSync(source) || process.env.HOOKWATCH_FROM === 'dist') return true;
  const stamp = join(root, 'dist', '.build-complete');
  if (!existsSync(stamp)) return false;
  const builtAt = statSync(stamp).mtimeMs;
  return !['src', 'probes'].some((d) => existsSync(join(root, d)) && sourcesChangedSince(join(root, d), builtAt));
}

if (process.env.HOOKWATCH_FROM !== 'src' && buildIsCurrent()) {
  await import(pathToFileURL(built).href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('hookwatch: no current build in dist/ and tsx is not installed: run `npm run build` (or `npm ci` for development)\n');
    process.exit(2);
  }
  register();
  await import(pathToFileURL(source).href);
}
