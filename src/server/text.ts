// The human-readable verdict list shared by `once` and the demo.
import type { runView } from './status.ts';

export function formatText(views: ReturnType<typeof runView>[], opts: { details?: boolean } = {}): string {
  const lines: string[] = [];
  for (const v of views) {
    lines.push(`${v.ok ? 'PASS' : 'FAIL'}  ${v.name} (${v.type})  ${v.durationSeconds?.toFixed(3) ?? '?'}s`);
    if (v.reason) lines.push(`      reason: ${v.reason}`);
    if (v.cause) lines.push(`      likely cause: ${v.cause}`);
    for (const [k, val] of opts.details === false ? [] : Object.entries(v.details ?? {})) {
      if (val === undefined) continue;
      const text = typeof val === 'string' ? val : (JSON.stringify(val) ?? typeof val);
      lines.push(`      ${k}: ${text.length > 400 ? text.slice(0, 400) + '…' : text}`);
    }
  }
  const failed = views.filter((v) => !v.ok).length;
  lines.push(`${views.length - failed} of ${views.length} probe(s) passing${failed ? `, ${failed} failing` : ''}`);
  return lines.join('\n');
}
