// Prometheus-style durations: 1h30m, 15m, 30s, 250ms, 2d, 1w, 1y (units in descending order, each once).
const UNITS: Record<string, number> = { y: 365 * 86_400_000, w: 7 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const ORDER = ['y', 'w', 'd', 'h', 'm', 's', 'ms'];
const RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** Milliseconds, or undefined when the text is not a valid duration. "0" is allowed and means zero. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text === '') return undefined;
  const m = RE.exec(text);
  if (!m) return undefined;
  let ms = 0;
  ORDER.forEach((u, i) => {
    const g = m[i + 1];
    if (g !== undefined) ms += Number(g) * UNITS[u]!;
  });
  return Number.isSafeInteger(ms) ? ms : undefined;
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const u of ORDER) {
    const n = Math.floor(rest / UNITS[u]!);
    if (n > 0) {
      out += `${n}${u}`;
      rest -= n * UNITS[u]!;
    }
  }
  return out;
}
