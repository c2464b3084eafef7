// Serves the shipped runbooks (alerts/runbooks/<Alert>.md) so the status page's runbook links work
// wherever the agent runs, without a repository host. Markdown is shown as text: readable as is.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.ts';
import { esc, richText } from './page.ts';

export const RUNBOOK_DIR = join(PACKAGE_ROOT, 'alerts', 'runbooks');

export function readRunbook(name: string, dir = RUNBOOK_DIR): string | undefined {
  // `<Alert>.md` too, so a runbook_url base (chart: prometheusRule.runbookBaseURL) can point here.
  name = name.replace(/\.md$/, '');
  if (!/^Hookwatch[A-Za-z]+$/.test(name)) return undefined;
  const f = join(dir, `${name}.md`);
  return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
}

export function renderRunbook(name: string, md: string): string {
  const body = md
    .split('\n')
    .map((l) => (/^#{1,3} /.test(l) ? `<b>${esc(l)}</b>` : richText(l)))
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(name)} · runbook · hookwatch</title>
<style>body{font-family:system-ui,sans-serif;margin:1rem 1.5rem;color:#1f2328;max-width:60rem}pre{white-space:pre-wrap;font-family:inherit;line-height:1.5}
code{font-family:ui-monospace,monospace;background:#eaeef2;padding:0 .2rem}a{color:#0550ae}</style></head>
<body><p><a href="../">← status</a></p><pre>${body}</pre></body></html>`;
}
