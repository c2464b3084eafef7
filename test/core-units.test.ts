// Small core pieces: durations, "did you mean", log redaction and logfmt, Secret printing.
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/config/duration.ts';
import { closest } from '../src/config/suggest.ts';
import { createLogger, toLogfmt } from '../src/log.ts';
import { Secret, scrub } from '../src/secret.ts';
import { parseListenAddress } from '../src/address.ts';

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2d', 172_800_000],
    ['1w', 604_800_000],
    ['0', 0],
    ['1h0m5s', 3_605_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    if (ms > 0) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
  it.each(['', '5', '5 m', '1.5h', 'm5', '5min', '30s1h', '-1s', '1H'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('suggestions', () => {
  it('suggests close keys only', () => {
    expect(closest('intreval', ['interval', 'timeout'])).toBe('interval');
    expect(closest('storId', ['storeId', 'url'])).toBe('storeId');
    expect(closest('colour', ['interval', 'timeout'])).toBeUndefined();
  });
});

describe('secrets', () => {
  it('print as their reference in every form', () => {
    const s = new Secret('hunter2-very-secret', 'env:API_KEY');
    expect(String(s)).toBe('<secret env:API_KEY>');
    expect(`${s}`).toBe('<secret env:API_KEY>');
    expect(JSON.stringify({ s })).toBe('{"s":"<secret env:API_KEY>"}');
    expect(inspect({ s })).not.toContain('hunter2');
    expect(s.reveal()).toBe('hunter2-very-secret');
    expect(scrub('auth failed for hunter2-very-secret!', [s])).toBe('auth failed for <secret env:API_KEY>!');
  });
});

describe('logging', () => {
  const capture = (format: 'json' | 'logfmt') => {
    const lines: string[] = [];
    const log = createLogger({
      format,
      destination: new Writable({
        write(c: Buffer, _e, cb) {
          lines.push(c.toString());
          cb();
        },
      }),
    });
    return { log, lines };
  };
  it('redacts secret-looking fields and prints Secret objects as references', () => {
    const { log, lines } = capture('json');
    log.info(
      { apiKey: 'raw-key-1234', headers: { authorization: 'token raw-key-1234' }, password: 'pw-9876', secret: new Secret('whsec_abc', 'env:S') },
      'hello',
    );
    const text = lines.join('');
    expect(text).not.toContain('raw-key-1234');
    expect(text).not.toContain('pw-9876');
    expect(text).not.toContain('whsec_abc');
    expect(text).toContain('[REDACTED]');
  });
  it('writes logfmt with level names and quoting', () => {
    const { log, lines } = capture('logfmt');
    log.child({ probe: 'p1', run_id: 'abc' }).warn({ reason: 'HTTP 503, expected 2xx' }, 'probe run failed');
    expect(lines[0]).toMatch(/^ts=\S+Z level=warn probe=p1 run_id=abc reason="HTTP 503, expected 2xx" msg="probe run failed"\n$/);
    expect(toLogfmt('{"level":30,"time":0,"msg":"x"}')).toBe('ts=1970-01-01T00:00:00.000Z level=info msg=x');
  });
});

describe('listen address', () => {
  it('parses HOST:PORT forms', () => {
    expect(parseListenAddress(':9877')).toEqual({ host: '0.0.0.0', port: 9877 });
    expect(parseListenAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:9877')).toEqual({ host: '::1', port: 9877 });
    expect(() => parseListenAddress('9877')).toThrow(/HOST:PORT/);
  });
});
