// `npm run build`: compiles src/ and probes/ to dist/ (tsconfig.build.json) and copies the YAML the code reads at
// run time (the demo's config, the probe examples). dist/.build-complete is written last: bin/hookwatch.js compares
// it with the sources' mtimes, so an edited checkout never runs a stale build. The new tree is built aside and
// swapped in with two renames, so a hookwatch process starting meanwhile never sees a half-written dist/.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const next = join(root, `.dist-${process.pid}`);
const old = join(root, `.dist-old-${process.pid}`);
rmSync(next, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', next], { stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}

function copyYaml(dir) {
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) copyYaml(rel);
    else if (e.name.endsWith('.yaml')) {
      mkdirSync(join(next, dir), { recursive: true });
      cpSync(join(root, rel), join(next, rel));
    }
  }
}
copyYaml('probes');
writeFileSync(join(next, '.build-complete'), `${new Date().toISOString()}\n`);

if (existsSync(dist)) renameSync(dist, old);
renameSync(next, dist);
rmSync(old, { recursive: true, force: true });
