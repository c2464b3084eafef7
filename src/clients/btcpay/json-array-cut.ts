// Reading at most N elements of a JSON array off a stream. A server that ignores `count` on the deliveries list
// answers with every row it has (300 000 rows is ~30 MB of JSON and far more once parsed); we asked for N, so we
// stop after the N-th element, drop the connection and parse only what we asked for. Works on raw bytes: JSON's
// structural characters are ASCII, so UTF-8 multi-byte sequences never look like them.

export class JsonArrayCutter {
  #depth = 0;
  #inString = false;
  #escape = false;
  #items = 0;
  #started = false;
  #offset = 0;
  /** Byte offset just after the max-th element's end, once reached. */
  cutAt?: number;

  constructor(private readonly max: number) {}

  /** Feed the next chunk; returns true once `max` elements have been seen (cutAt is then set). */
  feed(chunk: Buffer): boolean {
    if (this.cutAt !== undefined) return true;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === 0x5c)
          this.#escape = true; // backslash
        else if (c === 0x22) this.#inString = false;
        continue;
      }
      if (c === 0x22) this.#inString = true;
      else if (c === 0x5b || c === 0x7b) {
        // [ or {
        if (this.#depth === 0 && c === 0x5b) this.#started = true;
        this.#depth++;
      } else if (c === 0x5d || c === 0x7d) {
        this.#depth--;
        if (this.#started && this.#depth === 1 && ++this.#items >= this.max) {
          this.cutAt = this.#offset + i + 1;
          return true;
        }
      } else if (this.#started && this.#depth === 1 && c !== 0x2c && c > 0x20) {
        // a scalar element at the top level: count it at the following comma or bracket (rare in our APIs)
      }
    }
    this.#offset += chunk.length;
    return false;
  }
}
