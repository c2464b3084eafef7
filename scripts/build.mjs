// `npm run build`: bundles the agent into dist/src/ with esbuild (src/cli.ts and what it imports, npm
// dependencies included) so `hookwatch run` loads a few files instead of hundreds of modules: it starts
// faster and idles smaller (bench/footprint.ts measures both). What only some commands or configs need
// (the demo and its simulators, redeliver, verify) stays behind dynamic import() in chunks of its own;
// `pg` and `bcryptjs` stay external, loaded from node_modules when a config uses them. Type checking is
// `npm run typecheck`, not the build.
// dist/.build-complete is written last: bin/hookwatch.js compares it with the sources' mtimes, so an edited
// checkout never runs a stale build. The new tree is built aside and swapped in with two renames, so a
// hookwatch process starting meanwhile never sees a half-written dist/.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const next = join(root, `.dist-${process.pid}`);
const old = join(root, `.dist-old-${process.pid}`);
rmSync(next, { recursive: true, force: true });
mkdirSync(next, { recursive: true });

try {
  await build({
    entryPoints: [join(root, 'src', 'cli.ts')],
    outdir: join(next, 'src'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    // V8 holds the source of every loaded module in the heap (to compile functions lazily): whitespace, dead code and
    // local names go (about a fifth of the bundle). keepNames keeps function and class names, so stack traces and
    // error class names stay readable.
    minify: true,
    keepNames: true,
    // Two data tables of express's dependencies stay in node_modules (both are direct dependencies, so they resolve from
    // dist/): iconv-lite's code pages (480 KB, loaded only when a body in another charset is decoded, which the agent
    // never does) and mime-db (150 KB of JSON, read with JSON.parse instead of compiled as code). Bundled, they were a
    // quarter of what every start parses, and V8 keeps the source of every loaded bundle in the heap.
    external: ['pg', 'bcryptjs', 'iconv-lite', 'mime-db'],
    // CommonJS dependencies (express, pino, …) call require() for Node's built-ins.
    banner: { js: "import { createRequire as __hookwatchRequire } from 'node:module'; const require = __hookwatchRequire(import.meta.url);" },
    legalComments: 'linked',
    logLevel: 'warning',
  });
} catch (e) {
  rmSync(next, { recursive: true, force: true });
  console.error(`build failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
writeFileSync(join(next, '.build-complete'), `${new Date().toISOString()}\n`);

if (existsSync(dist)) renameSync(dist, old);
renameSync(next, dist);
rmSync(old, { recursive: true, force: true });
