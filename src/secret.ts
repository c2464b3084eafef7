// A secret is only ever held behind this class. Every way a value can leak by accident
// (String(), JSON.stringify, util.inspect, pino serialisation, template literals) prints the
// reference, never the value; code that needs the value must call reveal() on purpose.
import { inspect } from 'node:util';

export type SecretRef = { file: string } | { env: string };

export class Secret {
  readonly #value: string;
  readonly ref: string;
  constructor(value: string, ref: string) {
    this.#value = value;
    this.ref = ref;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return `<secret ${this.ref}>`;
  }
  toJSON(): string {
    return this.toString();
  }
  [inspect.custom](): string {
    return this.toString();
  }
  /** Literal secret, for tests and the embedded demo only. */
  static literal(value: string, label = 'inline'): Secret {
    return new Secret(value, label);
  }
}

export function describeRef(ref: SecretRef): string {
  return 'file' in ref ? `file:${ref.file}` : `env:${ref.env}`;
}

/** Replace every occurrence of any secret's value in a string (belt and braces for upstream error text). */
export function scrub(text: string, secrets: Iterable<Secret>): string {
  let out = text;
  for (const s of secrets) {
    const v = s.reveal();
    if (v.length >= 4) out = out.split(v).join(s.toString());
  }
  return out;
}
