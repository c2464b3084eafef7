// The terminal verdict list of `once`: one line per passing probe; a failing one gets its reason,
// since when, what to do now and what to fix for good, and the few scalar details that matter
// (nested details stay in `--format json` rather than being cut off here).
import { formatLasted } from '../history/run-history.ts';
import type { RunView } from './status.ts';

/** "2026-05-01 12:00:03 UTC": second precision, zone spelled out. */
export function clockTime(isoOrMs: string | number): string {
  return new Date(isoOrMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

const MAX_DETAILS = 6;

function scalarDetails(details: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(details)) {
    if (out.length >= MAX_DETAILS) break;
    if (typeof v === 'number') out.push(`${k}=${Number.isInteger(v) ? v : Number(v.toFixed(3))}`);
    else if (typeof v === 'string' || typeof v === 'boolean') out.push(`${k}=${v}`);
    else if (Array.isArray(v) && v.length > 0 && v.length <= 5 && v.every((x) => typeof x === 'string' || typeof x === 'number'))
      out.push(`${k}=${v.join(',')}`);
  }
  return out;
}

export function formatText(views: RunView[], opts: { now?: number } = {}): string {
  const now = opts.now ?? Date.now();
  const lines: string[] = [];
  for (const v of views) {
    const took = v.durationSeconds === null ? '' : `  ${v.durationSeconds.toFixed(3)}s`;
    if (v.ok !== false) {
      lines.push(`${v.ok ? 'PASS' : 'PEND'}  ${v.name} (${v.type})${took}`);
      continue;
    }
    lines.push(`FAIL  ${v.name} (${v.type})  ${(v.severity ?? 'page').toUpperCase()}${took}`);
    const pad = (label: string, text: string | null) => text && lines.push(`      ${label.padEnd(7)} ${text}`);
    pad('reason:', v.reason);
    const root = (v as { likelyRootCause?: { probe: string; host: string } | null }).likelyRootCause;
    if (root) pad('root:', `likely caused by ${root.probe}, which explains failures delivering to ${root.host}: fix that first`);
    if (v.since) pad('since:', `${clockTime(v.since)} (${formatLasted(Math.max(0, now - Date.parse(v.since)))} ago)`);
    pad('action:', v.action);
    pad('fix:', v.fix);
    pad('cause:', v.cause);
    const d = scalarDetails(v.details);
    if (d.length) pad('details:', d.join('  '));
    if (v.runbook) pad('runbook:', `alerts/runbooks/${v.runbook}.md`);
  }
  const failed = views.filter((v) => v.ok === false);
  const tickets = failed.filter((v) => v.severity === 'ticket').length;
  const summary = `${views.length - failed.length} of ${views.length} probe(s) passing`;
  lines.push(failed.length ? `${summary}, ${failed.length} failing (${failed.length - tickets} page, ${tickets} ticket)` : summary);
  return lines.join('\n');
}
