// HTTP endpoints: /metrics, /-/healthy, /-/ready, /-/reload, /status, /probe/<name>/log and an HTML index.
import express, { type Express } from 'express';
import type { AgentView } from './agent-view.ts';
import { statusView } from './status.ts';
import { renderStatusPage } from './page.ts';
import { renderLogPage } from './log-page.ts';
import { readRunbook, renderRunbook } from './runbooks.ts';

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
    const runs = agent.scheduler.history.get(s.name).recent.map((r) => ({ runId: r.runId, at: new Date(r.at).toISOString(), ok: r.ok }));
    const asked = typeof req.query.run === 'string' ? req.query.run : undefined;
    const runId = asked && runs.some((r) => r.runId === asked) ? asked : s.last?.runId;
    const lines = runId ? agent.scheduler.runLogs.lines(runId) : [];
    if (req.query.format === 'json') {
      res.json({ probe: s.name, runId, lines });
      return;
    }
    res.type('html').send(renderLogPage({ probe: s.name, runId, lines, runs }));
  });

  app.get('/runbooks/:name', (req, res) => {
    const md = readRunbook(req.params.name);
    if (md === undefined) res.status(404).type('text/plain').send('unknown runbook\n');
    else res.type('html').send(renderRunbook(req.params.name, md));
  });

  app.get('/', (_req, res) => {
    res.type('html').send(renderStatusPage(statusView(agent), { configFile: agent.opts.configFile, lastReloadError: agent.lastReloadError }));
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
    res
      .status(code)
      .type('text/plain')
      .send(code === 500 ? 'Internal Server Error\n' : 'Bad Request\n');
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
