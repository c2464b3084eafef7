// The package's root folder (where package.json, alerts/ and probes/ are), found from this module's location.
// The same code runs from the TypeScript sources (src/…) and from the bundled build (dist/src/…, at a
// different depth), so it walks up to the package.json that names hookwatch instead of counting `..`.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from, i = 0; i < 8; i++, dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'hookwatch') return dir;
      } catch {
        /* not ours: keep walking */
      }
    }
    if (dirname(dir) === dir) break;
  }
  throw new Error(`hookwatch: no package.json of hookwatch above ${from}`);
}

export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
