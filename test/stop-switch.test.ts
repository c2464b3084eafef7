// The probe's stop switch: flips once, tells its listeners once, and a listener that left hears nothing.
import { describe, expect, it } from 'vitest';
import { StopSwitch } from '../src/scheduler/stop-switch.ts';

describe('StopSwitch', () => {
  it('tells current listeners once with the first reason, and a late listener at once', () => {
    const s = new StopSwitch();
    const heard: unknown[] = [];
    const left: unknown[] = [];
    s.onStop((r) => heard.push(r));
    const unlisten = s.onStop((r) => left.push(r));
    unlisten();
    expect(s.stopped).toBe(false);
    s.stop('removed');
    s.stop('shutting down');
    expect(heard).toEqual(['removed']);
    expect(left).toEqual([]);
    expect(s.reason).toBe('removed');
    const late: unknown[] = [];
    s.onStop((r) => late.push(r))();
    expect(late).toEqual(['removed']);
  });
});
