// A run's log lines as a readable page: time (viewer's zone on hover), level, message, and the
// remaining fields as key=value. The same lines as JSON with ?format=json.
import { asText } from '../as-text.ts';
import { esc } from './page.ts';

const HIDDEN = new Set(['time', 'level', 'msg', 'probe', 'type', 'run_id', 'pid', 'hostname']);

function field(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function renderLogPage(o: {
  probe: string;
  runId?: string;
  lines: Array<Record<string, unknown>>;
  runs: Array<{ runId: string; at: string | null; ok: boolean }>;
}): string {
  const rows = o.lines
    .map((l) => {
      const t = typeof l.time === 'number' ? new Date(l.time).toISOString() : asText(l.time);
      const level = asText(l.level);
      const fields = Object.entries(l)
        .filter(([k]) => !HIDDEN.has(k))
        .map(([k, v]) => `<span class="k">${esc(k)}</span>=<span class="v">${esc(field(v))}</span>`)
        .join(' ');
      const time = `<time datetime="${esc(t)}" title="${esc(t)}">${esc(t.replace('T', ' ').replace('Z', ' UTC'))}</time>`;
      const cells = `<td>${time}</td><td class="level">${esc(level.toUpperCase())}</td><td>${esc(l.msg ?? '')}</td><td class="fields">${fields}</td>`;
      return `<tr class="lvl-${esc(level)}">${cells}</tr>`;
    })
    .join('\n');
  const runs = o.runs
    .slice()
    .reverse()
    .map((r) => {
      const link = `<a href="?run=${encodeURIComponent(r.runId)}">${esc(r.at ?? '')} ${r.ok ? 'passed' : 'failed'}</a>`;
      return `<li>${r.runId === o.runId ? `<b>${link}</b>` : link}</li>`;
    })
    .join('');
  const table = o.lines.length
    ? `<table><thead><tr><th>time</th><th>level</th><th>message</th><th>fields</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
    : '<p>No log lines kept for this run.</p>';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>log · ${esc(o.probe)} · hookwatch</title>
<style>body{font-family:system-ui,sans-serif;margin:1rem 1.5rem;color:#1f2328}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
.fields{font-family:ui-monospace,monospace;font-size:.8rem;word-break:break-word}.k{color:#57606a}.level{font-weight:700}
.lvl-warn .level{color:#6f4400}.lvl-error .level{color:#a40e26}a{color:#0550ae}nav ul{columns:3;font-size:.85rem}</style></head>
<body><p><a href="../../">← status</a> · <a href="?format=json${o.runId ? `&amp;run=${encodeURIComponent(o.runId)}` : ''}">JSON</a></p>
<h1>${esc(o.probe)}: run ${esc(o.runId ?? '(none yet)')}</h1>
${table}
${runs ? `<nav><h2>Recent runs</h2><ul>${runs}</ul></nav>` : ''}
<script>document.querySelectorAll('time[datetime]').forEach(function(t){var d=new Date(t.getAttribute('datetime'));
if(!isNaN(d)){t.title=t.textContent;t.textContent=d.toLocaleString(undefined,{dateStyle:'short',timeStyle:'medium'});}});</script>
</body></html>`;
}
