// Looking up a probe's sources through its kind's declaration, for commands that act on a probe's
// upstream (redeliver) without knowing which key a kind uses to name it.
import type { LoadedConfig, ProbeBase, ProbeKind, SourceOf, SourceType } from './types.ts';

/** The source of type `type` named by the first key the kind declares for that type, if the probe sets it. */
export function declaredSource<T extends SourceType>(
  kind: ProbeKind,
  probe: ProbeBase & Record<string, unknown>,
  config: LoadedConfig,
  type: T,
): SourceOf<T> | undefined {
  for (const [key, accepted] of Object.entries(kind.sources ?? {})) {
    const name = probe[key];
    if (!accepted.includes(type) || typeof name !== 'string') continue;
    const s = config.sources[name];
    if (s?.type === type) return s as SourceOf<T>;
  }
  return undefined;
}
