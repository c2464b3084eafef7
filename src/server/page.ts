// The status page `/`, incident first: an overall banner, then failing probes grouped under their
// likely root cause, then tickets, then what passes. Severity is spelled out (PAGE / TICKET / OK
// and a glyph), never colour alone; colours meet WCAG AA contrast on their backgrounds. Without
// JavaScript it reloads itself (meta refresh) and shows UTC times; with it, the page swaps in fresh
// content without a reload and shows times in the viewer's zone.
import type { StatusView } from './status.ts';
import { asText } from '../as-text.ts';

type ProbeView = StatusView['probes'][number];

export const esc = (s: unknown) => asText(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** `code` spans in probe text become <code>, so commands stand out and copy cleanly. */
export function richText(s: string | null): string {
  if (!s) return '';
  return esc(s).replace(/`([^`]+)`/g, '<code>$1</code>');
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** A relative time with the absolute one on hover (UTC here; the script rewrites it in the viewer's zone). */
function when(isoTime: string | null, now: number, suffix = 'ago'): string {
  if (!isoTime) return '<span class="muted">never</span>';
  const t = Date.parse(isoTime);
  const abs = new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return `<time datetime="${esc(isoTime)}" title="${esc(abs)}" data-rel="${suffix}">${ago(now - t)} ${suffix}</time>`;
}

function badge(p: ProbeView): string {
  if (p.ok === null) return '<span class="badge pending">… PENDING</span>';
  if (p.ok) return '<span class="badge ok">✓ OK</span>';
  return p.severity === 'ticket' ? '<span class="badge ticket">◆ TICKET</span>' : '<span class="badge page">✕ PAGE</span>';
}

function strip(p: ProbeView): string {
  if (!p.history.length) return '';
  const failed = p.history.filter((h) => !h.ok).length;
  const cells = p.history
    .map((h) => {
      const cls = h.ok ? 'ok' : h.severity === 'ticket' ? 'ticket' : 'page';
      const label = `${h.at} ${h.ok ? 'passed' : `failed (${h.outcome})`}`;
      const href = `probe/${encodeURIComponent(p.name)}/log?run=${encodeURIComponent(h.runId)}`;
      return `<a class="run ${cls}" href="${href}" title="${esc(label)}">${h.ok ? '' : '!'}</a>`;
    })
    .join('');
  const summary = `last ${p.history.length} runs, ${failed} failed`;
  return `<div class="strip" role="img" aria-label="${esc(`${summary}, oldest first`)}">${cells}</div><span class="muted small">${summary}</span>`;
}

function runbookLink(p: ProbeView, runbookBase: string): string {
  return p.runbook ? `<a href="${esc(runbookBase + p.runbook)}">runbook ${esc(p.runbook)}</a>` : '';
}

function card(p: ProbeView, now: number, runbookBase: string, opts: { consequence?: boolean } = {}): string {
  const failing = p.ok === false;
  const since = failing ? `failing since ${when(p.since, now, 'ago')}` : p.ok ? `OK since ${when(p.since, now, 'ago')}` : 'no run yet';
  const lastOk = failing ? ` · last OK ${when(p.lastOkAt, now, 'ago')}` : '';
  const body = failing
    ? `<p class="reason"><b>What is wrong:</b> ${richText(p.reason)}</p>
${p.action && !opts.consequence ? `<div class="action"><b>Do now:</b> ${richText(p.action)}</div>` : ''}
${p.action && opts.consequence ? `<div class="fix then"><b>After the root cause is fixed:</b> ${richText(p.action)}</div>` : ''}
${p.fix && !opts.consequence ? `<div class="fix"><b>Lasting fix:</b> ${richText(p.fix)}</div>` : ''}
${p.cause && !opts.consequence ? `<p class="cause"><b>Likely cause:</b> ${richText(p.cause)}</p>` : ''}`
    : '';
  const cls = failing ? (p.severity === 'ticket' ? 'is-ticket' : 'is-page') : p.ok ? 'is-ok' : 'is-pending';
  return `<article class="probe ${cls}" id="probe-${esc(p.name)}" data-probe="${esc(p.name)}">
<h3>${badge(p)} <span class="name">${esc(p.name)}</span> <span class="type">${esc(p.type)}</span></h3>
<p class="meta">${since}${lastOk}${p.finishedAt ? ` · last run ${when(p.finishedAt, now, 'ago')}` : ''}</p>
${strip(p)}
${body}
<p class="links">${runbookLink(p, runbookBase)}${p.runId ? ` · <a href="probe/${encodeURIComponent(p.name)}/log">last run log</a>` : ''}</p>
</article>`;
}

const CSS = `
:root{--fg:#1f2328;--muted:#57606a;--bg:#fff;--page:#a40e26;--page-bg:#ffebe9;--ticket:#6f4400;--ticket-bg:#fff8c5;--ok:#116329;--ok-bg:#dafbe1;--link:#0550ae}
body{font-family:system-ui,sans-serif;margin:0;color:var(--fg);background:var(--bg);line-height:1.45}
main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem}
a{color:var(--link)}
.banner{padding:.9rem 1.5rem;font-size:1.25rem;font-weight:600;border-bottom:3px solid}
.banner.page{background:var(--page-bg);color:var(--page);border-color:var(--page)}
.banner.ticket{background:var(--ticket-bg);color:var(--ticket);border-color:var(--ticket)}
.banner.ok{background:var(--ok-bg);color:var(--ok);border-color:var(--ok)}
.banner small{display:block;font-size:.95rem;font-weight:400;color:var(--fg)}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.incident{border:2px solid var(--page);border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.incident>h2{margin-top:.3rem}
.consequences{margin-left:1.5rem;border-left:3px solid var(--muted);padding-left:1rem}
.probe{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:.6rem 0;background:#fff}
.probe.is-page{border-left:6px solid var(--page)}
.probe.is-ticket{border-left:6px solid var(--ticket)}
.probe h3{margin:.2rem 0;font-size:1.05rem}
.type,.muted{color:var(--muted)}
.small{font-size:.85rem}
.badge{display:inline-block;font-size:.8rem;font-weight:700;padding:.1rem .45rem;border-radius:4px;border:1px solid}
.badge.page{color:var(--page);background:var(--page-bg)}
.badge.ticket{color:var(--ticket);background:var(--ticket-bg)}
.badge.ok{color:var(--ok);background:var(--ok-bg)}
.badge.pending{color:var(--muted)}
.meta{margin:.2rem 0;color:var(--fg)}
.strip{display:inline-flex;gap:2px;vertical-align:middle;margin-right:.5rem}
.run{display:inline-block;width:.7rem;height:1.1rem;font-size:.7rem;line-height:1.1rem;text-align:center;color:#fff;text-decoration:none;border-radius:2px}
.run.ok{background:var(--ok)}.run.page{background:var(--page)}.run.ticket{background:var(--ticket)}
.action{background:#ddf4ff;border:1px solid #0969da;border-radius:4px;padding:.4rem .6rem;margin:.4rem 0}
.fix{background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;padding:.4rem .6rem;margin:.4rem 0}
code{font-family:ui-monospace,monospace;background:#eaeef2;padding:0 .25rem;border-radius:3px;color:var(--fg)}
table.passing{border-collapse:collapse;width:100%}
table.passing td,table.passing th{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:middle}
footer{color:var(--muted);font-size:.85rem;margin:2rem 0}
`;

// Progressive enhancement: local times on hover, live relative times, and a refresh that keeps the
// scroll position. The <noscript> meta refresh does the refreshing when this does not run.
const SCRIPT = (refreshS: number) => `
(function(){
  function fmt(s){s=Math.max(0,Math.round(s));if(s<60)return s+'s';if(s<3600)return Math.floor(s/60)+'m '+(s%60)+'s';
    if(s<86400)return Math.floor(s/3600)+'h '+Math.floor(s%3600/60)+'m';return Math.floor(s/86400)+'d '+Math.floor(s%86400/3600)+'h';}
  function times(){document.querySelectorAll('time[datetime]').forEach(function(t){var d=new Date(t.getAttribute('datetime'));
    t.title=d.toLocaleString(undefined,{dateStyle:'medium',timeStyle:'long'});t.textContent=fmt((Date.now()-d)/1000)+' '+t.dataset.rel;});}
  times();setInterval(times,1000);
  setInterval(function(){fetch(location.href,{headers:{accept:'text/html'}}).then(function(r){return r.ok?r.text():null}).then(function(html){
    if(!html)return;var doc=new DOMParser().parseFromString(html,'text/html');var m=doc.querySelector('#content');
    if(m){document.querySelector('#content').replaceWith(m);times();}}).catch(function(){});},${refreshS * 1000});
})();`;

export interface PageOptions {
  now?: number;
  refreshSeconds?: number;
  /** Where runbook links point: the agent's own /runbooks/ by default, or a hosted copy. */
  runbookBase?: string;
  configFile: string;
  lastReloadError?: string | null;
}

export function renderStatusPage(status: StatusView, o: PageOptions): string {
  const now = o.now ?? Date.now();
  const refresh = o.refreshSeconds ?? 10;
  const rb = o.runbookBase ?? 'runbooks/';
  const probes = status.probes;
  const failing = probes.filter((p) => p.ok === false);
  const pages = failing.filter((p) => p.severity !== 'ticket');
  const tickets = failing.filter((p) => p.severity === 'ticket');
  const byName = new Map(probes.map((p) => [p.name, p]));

  // Root causes first: each explaining probe with the failures it explains.
  const groups = new Map<string, ProbeView[]>();
  for (const p of failing) if (p.likelyRootCause) groups.set(p.likelyRootCause.probe, [...(groups.get(p.likelyRootCause.probe) ?? []), p]);
  const grouped = new Set([...groups.keys(), ...[...groups.values()].flat().map((p) => p.name)]);
  const incidents = [...groups.entries()]
    .map(([root, deps]) => {
      const r = byName.get(root)!;
      const hosts = [...new Set(deps.map((d) => d.likelyRootCause!.host))];
      return `<section class="incident" aria-labelledby="inc-${esc(root)}">
<h2 id="inc-${esc(root)}">Likely root cause: ${esc(r.name)} (${esc(r.type)}) on ${hosts.map((h) => `<code>${esc(h)}</code>`).join(', ')}</h2>
${card(r, now, rb)}
<div class="consequences"><h2>Caused by it (${deps.length}): ${deps.map((d) => esc(d.name)).join(', ')}</h2>
${deps.map((d) => card(d, now, rb, { consequence: true })).join('\n')}</div>
</section>`;
    })
    .join('\n');
  const otherPages = pages.filter((p) => !grouped.has(p.name));
  const passing = probes.filter((p) => p.ok !== false && !grouped.has(p.name));

  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const passingCount = `${probes.length - failing.length} of ${probes.length} probes passing`;
  const causes = groups.size ? `, ${plural(groups.size, 'likely root cause')}` : '';
  const openTickets = tickets.length ? `${plural(tickets.length, 'ticket')} open · ` : '';
  const banner = pages.length
    ? `<div class="banner page" role="alert">✕ OUTAGE: ${plural(pages.length, 'probe')} failing at page severity${causes}` +
      `<small>${openTickets}${passingCount}</small></div>`
    : tickets.length
      ? `<div class="banner ticket" role="status">◆ No outage; ${plural(tickets.length, 'ticket')} to fix in working hours<small>${passingCount}</small></div>`
      : `<div class="banner ok" role="status">✓ All ${probes.length} probes passing<small>nothing to do</small></div>`;

  const logLink = (p: ProbeView) => (p.runId ? `<a href="probe/${encodeURIComponent(p.name)}/log">log</a>` : '');
  const passingRows = passing
    .map(
      (p) =>
        `<tr data-probe="${esc(p.name)}"><td>${badge(p)}</td><td>${esc(p.name)} <span class="type">${esc(p.type)}</span></td>` +
        `<td>${p.ok ? `OK since ${when(p.since, now)}` : 'no run yet'}</td><td>${strip(p)}</td><td>${logLink(p)}</td></tr>`,
    )
    .join('\n');
  const openTicketCards = tickets.filter((p) => !grouped.has(p.name)).map((p) => card(p, now, rb));
  const reloadFailed = o.lastReloadError
    ? `<p class="banner page" role="alert">✕ The last configuration reload failed; the previous configuration keeps running: ${esc(o.lastReloadError)}</p>`
    : '';
  const passingTable = passing.length
    ? '<h2>Passing</h2><table class="passing"><thead><tr><th>state</th><th>probe</th><th>since</th><th>recent runs</th><th>last run</th></tr></thead>' +
      `<tbody>\n${passingRows}\n</tbody></table>`
    : '';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${pages.length ? `✕ ${pages.length} failing` : tickets.length ? `◆ ${tickets.length} ticket` : '✓ OK'} · hookwatch</title>
<noscript><meta http-equiv="refresh" content="${refresh}"></noscript>
<style>${CSS}</style></head>
<body><div id="content">
${banner}
<main>
${reloadFailed}
${incidents}
${otherPages.length ? `<h2>Failing (page)</h2>\n${otherPages.map((p) => card(p, now, rb)).join('\n')}` : ''}
${openTicketCards.length ? `<h2>Tickets (not an outage)</h2>\n${openTicketCards.join('\n')}` : ''}
${passingTable}
<footer>Updated ${when(new Date(now).toISOString(), now)} · refreshes every ${refresh}s · config ${esc(o.configFile)} ·
<a href="status">/status (JSON)</a> · <a href="metrics">/metrics</a></footer>
</main></div>
<script>${SCRIPT(refresh)}</script>
</body></html>`;
}
