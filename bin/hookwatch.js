#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so a clone needs no build step.
// A SIGHUP (reload) while the modules load must not kill `run` (the default action); it is noted
// here, first of all, and applied once the agent has started (src/cli.ts).
if (process.argv[2] === 'run') process.on('SIGHUP', () => (process[Symbol.for('hookwatch.earlySighup')] = true));
const { register } = await import('tsx/esm/api');
register();
await import('../src/cli.ts');
