// One rule for showing an arbitrary value as text (results, log fields, the page): strings as they are,
// nothing as "", other values as JSON, never "[object Object]".
export const asText = (v: unknown): string =>
  typeof v === 'string'
    ? v
    : v === undefined || v === null
      ? ''
      : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint'
        ? `${v}`
        : (JSON.stringify(v) ?? typeof v);
