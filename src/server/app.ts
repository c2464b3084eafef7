// HTTP endpoints: /metrics, /-/healthy, /-/ready, /-/reload, /status, /probe/<name>/log and an HTML index.
import express, { type Express } from 'express';
import type { Agent } from '../agent.ts';
import { statusView } from './status.ts';
import { renderStatusPage } from './page.ts';
import { renderLogPage } from './log-page.ts';
import { readRunbook, renderRunbook } from './runbooks.ts';

export function createApp(agent: Agent): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('json spaces', 2);

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
  return app;
}
