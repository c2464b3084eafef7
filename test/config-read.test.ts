// A config file read while it is being rewritten in place must not be taken half-written, even when the
// half happens to be valid YAML (a probe list cut after its first entry).
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile } from '../src/config/load.ts';
import { readStable, UnstableFileError } from '../src/config/read.ts';
import { PROBE_KINDS } from '../probes/registry.ts';

const FIRST = 'probes:\n  - name: a\n    type: http\n    url: http://127.0.0.1:1/\n';
const SECOND = '  - name: b\n    type: http\n    url: http://127.0.0.1:2/\n';
const dir = mkdtempSync(join(tmpdir(), 'hw-read-'));

describe('reading a config file that changes while it is read', () => {
  it('re-reads a file that grew during the read and loads the whole of it, not the valid prefix', () => {
    const file = join(dir, 'growing.yaml');
    writeFileSync(file, FIRST);
    const reads: number[] = [];
    const c = loadConfigFile(file, {
      kinds: PROBE_KINDS,
      read: {
        pauseMs: 5,
        onRead: (attempt) => {
          reads.push(attempt);
          // The writer finishes the file just after the first read took its prefix.
          if (reads.length === 1) appendFileSync(file, SECOND);
        },
      },
    });
    expect(c.probes.map((p) => p.name)).toEqual(['a', 'b']);
    expect(Math.max(...reads)).toBeGreaterThan(1);
  });

  it('gives up with a clear error on a file that keeps changing, and says to write it atomically', () => {
    const file = join(dir, 'churning.yaml');
    writeFileSync(file, FIRST);
    let n = 0;
    const load = () => loadConfigFile(file, { kinds: PROBE_KINDS, read: { attempts: 3, pauseMs: 1, onRead: () => appendFileSync(file, `# ${n++}\n`) } });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/kept changing while being read \(3 attempts\); write it atomically/);
    expect(() => readStable(file, { attempts: 2, pauseMs: 1, onRead: () => appendFileSync(file, '#\n') })).toThrow(UnstableFileError);
  });

  it('reads a file that was just written (and then left alone) on the first attempt', () => {
    const file = join(dir, 'fresh.yaml');
    writeFileSync(file, FIRST + SECOND);
    const reads: number[] = [];
    expect(readStable(file, { pauseMs: 5, onRead: (a) => reads.push(a) })).toBe(FIRST + SECOND);
    expect(new Set(reads)).toEqual(new Set([1]));
  });

  it('still reports a missing file as unreadable', () => {
    expect(() => loadConfigFile(join(dir, 'absent.yaml'), { kinds: PROBE_KINDS })).toThrow(/cannot read config file \(ENOENT\)/);
  });
});
