import { describe, expect, it } from 'vitest';
import { evaluate } from './evaluate.ts';

describe('http verdict', () => {
  it('passes any 2xx when no status is configured', () => {
    expect(evaluate({ status: 204, seconds: 0.1 }, undefined)).toEqual({ ok: true, details: { status: 204, seconds: 0.1 } });
    expect(evaluate({ status: 301, seconds: 0.1 }, undefined)).toMatchObject({ ok: false, reason: 'HTTP 301, expected 2xx' });
  });

  it('passes only the configured status codes', () => {
    expect(evaluate({ status: 418, seconds: 0 }, 418).ok).toBe(true);
    expect(evaluate({ status: 200, seconds: 0 }, [418, 503])).toMatchObject({ ok: false, reason: 'HTTP 200, expected 418 or 503' });
    expect(evaluate({ status: 503, seconds: 0 }, [418, 503]).ok).toBe(true);
  });
});
