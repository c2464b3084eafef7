// Where a key path sits in the YAML text, so every config problem names file:line:column.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node as YamlNode } from 'yaml';

export type Path = Array<string | number>;

export interface Position {
  line: number;
  column: number;
}

export class YamlLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Line and column (1-based) of a character offset. */
  at(offset: number | undefined): Position {
    const { line, col } = this.lines.linePos(offset ?? 0);
    return { line, column: col };
  }

  /** The value at `path`; when it is absent, the nearest enclosing node that exists. */
  value(path: Path): Position {
    return this.#find(path.slice(0, -1), path[path.length - 1], false);
  }

  /** The key `key` of the mapping at `parent` (for unknown keys: point at the key, not its value). */
  key(parent: Path, key: string): Position {
    return this.#find(parent, key, true);
  }

  #find(parentPath: Path, last: string | number | undefined, wantKey: boolean): Position {
    for (let n = parentPath.length; n >= 0; n--) {
      const parent = n === 0 ? this.doc.contents : (this.doc.getIn(parentPath.slice(0, n), true) as YamlNode | undefined);
      if (n === parentPath.length && last !== undefined && isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === last);
        if (pair) return this.at(nodeStart(wantKey ? pair.key : (pair.value ?? pair.key)));
      }
      if (n === parentPath.length && typeof last === 'number' && isSeq(parent)) {
        const item = parent.items[last] as YamlNode | undefined;
        if (item?.range) return this.at(item.range[0]);
      }
      if (parent?.range) return this.at(parent.range[0]);
    }
    return this.at(0);
  }
}

function nodeStart(n: unknown): number | undefined {
  return (n as YamlNode | null)?.range?.[0];
}
