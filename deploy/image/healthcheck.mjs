// HEALTHCHECK without a shell or curl: exit 0 when the agent's /-/healthy answers 200 within 4 s.
// HOOKWATCH_HEALTH_URL overrides the address (e.g. when --web.listen-address sets another port).
const url = process.env.HOOKWATCH_HEALTH_URL ?? 'http://127.0.0.1:9877/-/healthy';
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}
