// Pins the metric names, types and labels the core writes for every probe (shown with the http kind).
import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { MetricRegistry } from '../../src/metrics/registry.ts';
import { createLogger } from '../../src/log.ts';
import { loadConfigText } from '../../src/config/load.ts';
import { PROBE_KINDS } from '../registry.ts';
import { expectGolden } from '../../test/helpers/golden.ts';

describe('http probe exposition', () => {
  it('matches the golden file', async () => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/teapot' ? 418 : 200;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const config = loadConfigText(
      `probes:\n  - name: ok\n    type: http\n    url: http://127.0.0.1:${port}/\n  - name: teapot\n    type: http\n    url: http://127.0.0.1:${port}/teapot\n    expectStatus: [418]\n  - name: wrong\n    type: http\n    url: http://127.0.0.1:${port}/teapot\n`,
      { kinds: PROBE_KINDS, file: 'golden.yaml' },
    );
    const registry = new MetricRegistry({ processMetrics: false });
    const scheduler = new Scheduler({ registry, log: createLogger({ destination: new Writable({ write: (_c, _e, cb) => cb() }) }), kinds: PROBE_KINDS });
    scheduler.apply(config);
    const results = await Promise.all(['ok', 'teapot', 'wrong'].map((n) => scheduler.runOnce(n)));
    expect(results.map((r) => r.result.ok)).toEqual([true, true, false]);
    expect(results[2]!.result.reason).toBe('HTTP 418, expected 2xx');
    expectGolden(new URL('./exposition.prom', import.meta.url), await registry.exposition());
    await scheduler.stop(100);
    server.close();
  });
});
