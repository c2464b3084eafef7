// Tests that need a real daemon (unbound, nsd, promtool, prometheus, postgres...) call needBinaries().
// Locally a missing binary skips loudly; with HOOKWATCH_REQUIRE_DAEMONS=1 (set by .ci/run) it fails.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const EXTRA_DIRS = ['/usr/sbin', '/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

export function findBinary(name: string): string | undefined {
  try {
    const p = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    if (p) return p;
  } catch {
    /* fall through */
  }
  for (const d of EXTRA_DIRS) if (existsSync(`${d}/${name}`)) return `${d}/${name}`;
  return undefined;
}

export const REQUIRE_DAEMONS = process.env.HOOKWATCH_REQUIRE_DAEMONS === '1';

/**
 * Returns a reason string when any binary is missing (use with describe.skipIf / it.skipIf),
 * or throws when HOOKWATCH_REQUIRE_DAEMONS=1 so CI never passes by skipping.
 */
export function missingBinaries(...names: string[]): string | undefined {
  const missing = names.filter((n) => !findBinary(n));
  if (missing.length === 0) return undefined;
  const reason = `SKIPPED: needs ${missing.join(', ')} (run scripts/install-test-deps.sh)`;
  if (REQUIRE_DAEMONS) throw new Error(`${reason}; HOOKWATCH_REQUIRE_DAEMONS=1 forbids skipping`);
  console.warn(`\n*** ${reason} ***\n`);
  return reason;
}

export function bin(name: string): string {
  const p = findBinary(name);
  if (!p) throw new Error(`binary ${name} not found`);
  return p;
}
