// Cross-field check shared by probe kinds: a key naming a source must name one of the right type.
// (Unknown names are already reported by the loader, with a "did you mean".)
import type { SourceConfig } from '../probe/types.ts';

export function checkSourceType(
  sources: Record<string, SourceConfig>,
  name: string | undefined,
  key: string,
  allowed: ReadonlyArray<SourceConfig['type']>,
  purpose: string,
  /** The caller runs once per store of a source with several stores (`storeId: all` or a list). */
  opts: { multiStore?: boolean } = {},
): Array<{ key: string; message: string }> {
  if (name === undefined) return [];
  const s = sources[name];
  if (!s) return [{ key, message: `no source named "${name}"` }];
  if (!allowed.includes(s.type)) return [{ key, message: `source "${name}" is of type ${s.type}; ${purpose} needs ${allowed.join(' or ')}` }];
  if (s.type === 'btcpay' && s.stores && !opts.multiStore) {
    const which = s.stores === 'all' ? 'all' : 'a list';
    return [{ key, message: `source "${name}" watches several stores (storeId: ${which}); ${purpose} needs a source with one storeId` }];
  }
  return [];
}
