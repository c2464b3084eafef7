// HTTP endpoints: /metrics, /-/healthy, /-/ready, /-/reload, /status, /probe/<name>/log and an HTML index.
import express, { type Express } from 'express';
import type { AgentView } from './agent-view.ts';
import { statusView } from './status.ts';

const esc = (s: string | number | undefined) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function createApp(agent: AgentView): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('env', 'production');
  app.set('json spaces', 2);
  app.use(refuseCrossSite);

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', agent.registry.registry.contentType);
    res.send(await agent.registry.exposition());
  });
  app.get('/-/healthy', (_req, res) => {
    res.type('text/plain').send('Healthy\n');
  });
  app.get('/-/ready', (_req, res) => {
    if (agent.ready) res.type('text/plain').send('Ready\n');
    else res.status(503).type('text/plain').send('Not ready\n');
  });
  const reload = (_req: express.Request, res: express.Response) => {
    // As in Prometheus: reloading over HTTP is opt-in; SIGHUP always works.
    if (!agent.opts.enableLifecycle) {
      res.status(403).type('text/plain').send('the lifecycle API is disabled: start with --web.enable-lifecycle, or send SIGHUP\n');
      return;
    }
    const r = agent.reload();
    if (r.ok) res.type('text/plain').send(`configuration reloaded: ${r.probes} probes\n`);
    else res.status(500).type('text/plain').send(`failed to reload config: ${r.error}\n`);
  };
  app.post('/-/reload', reload);
  app.put('/-/reload', reload);
  app.all('/-/reload', (_req, res) => {
    res.status(405).type('text/plain').send('use POST or PUT\n');
  });

  app.get('/status', (_req, res) => {
    res.json(statusView(agent));
  });

  app.get('/probe/:name/log', (req, res) => {
    const s = agent.scheduler.status().find((p) => p.name === req.params.name);
    if (!s) {
      res.status(404).type('text/plain').send('unknown probe\n');
      return;
    }
    const lines = s.last ? agent.scheduler.runLogs.lines(s.last.runId) : [];
    if (req.query.format === 'json') {
      res.json({ probe: s.name, runId: s.last?.runId, lines });
      return;
    }
    res.type('text/plain').send(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  });

  app.get('/', (_req, res) => {
    const rows = agent.scheduler
      .status()
      .map((p) => {
        const r = p.last?.result;
        const verdict = !p.last ? 'pending' : r?.ok ? 'OK' : 'FAIL';
        const color = !p.last ? '#888' : r?.ok ? '#1a7f37' : '#cf222e';
        return `<tr><td>${esc(p.name)}</td><td>${esc(p.type)}</td><td style="color:${color};font-weight:bold">${verdict}</td><td>${esc(r?.reason ?? '')}</td><td>${esc(r?.cause ?? '')}</td><td>${p.last ? new Date(p.last.finishedAt).toISOString() : ''}</td><td>${p.last ? p.last.durationSeconds.toFixed(3) + ' s' : ''}</td><td>${p.last ? `<a href="probe/${encodeURIComponent(p.name)}/log">log</a>` : ''}</td></tr>`;
      })
      .join('\n');
    res.type('html').send(`<!doctype html><html><head><meta charset="utf-8"><title>hookwatch</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style></head>
<body><h1>hookwatch</h1><p><a href="metrics">Metrics</a> · <a href="status">Status (JSON)</a> · config: ${esc(agent.opts.configFile)}${agent.lastReloadError ? ` · <b style="color:#cf222e">last reload failed</b>` : ''}</p>
<table><tr><th>probe</th><th>type</th><th>last result</th><th>reason</th><th>likely cause</th><th>finished</th><th>duration</th><th>last run</th></tr>
${rows}</table></body></html>`);
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not Found\n');
  });
  // Plain bodies: never a stack trace or a path to the client; the details go to the log.
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = (err as { status?: unknown })?.status;
    const code = typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
    const error = err instanceof Error ? err.message : String(err);
    if (code === 500) agent.opts.log.error({ error, method: req.method, path: req.path }, 'HTTP handler failed');
    else agent.opts.log.debug({ error, status: code }, 'bad HTTP request');
    if (res.headersSent) return;
    res.status(code).type('text/plain').send(code === 500 ? 'Internal Server Error\n' : 'Bad Request\n');
  });
  return app;
}

/**
 * A state-changing request from another site (a form on any web page the operator visits; the
 * browser adds cached basic-auth credentials) is refused, by Fetch Metadata or by Origin.
 */
function refuseCrossSite(req: express.Request, res: express.Response, next: express.NextFunction): void {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  let foreign = site === 'cross-site' || site === 'same-site';
  if (origin !== undefined) {
    try {
      foreign ||= new URL(origin).host !== req.headers.host;
    } catch {
      foreign = true;
    }
  }
  if (foreign) {
    res.status(403).type('text/plain').send('cross-site request refused\n');
    return;
  }
  next();
}
