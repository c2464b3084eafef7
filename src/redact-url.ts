// One rule for credentials in URLs, everywhere:
// - a URL written in the config may not carry credentials: no user:password@ part, and no query
//   parameter whose name says it holds one (token, key, secret, password, auth, signature...).
//   Such a URL would be printed in labels, logs, /status and error text. The config error names the
//   file and line and points to a secret reference (a header from { file: } or { env: }) instead;
// - a URL that comes from upstream (a webhook URL BTCPay reports, a redirect target) is shown only
//   as scheme://host[:port]/path: without userinfo, query or fragment, whatever they hold.
import type { z } from 'zod';

const SECRET_WORDS = [
  'token',
  'access[_-]?token',
  'api[_-]?key',
  'apikey',
  'key',
  'secret',
  'client[_-]?secret',
  'pass',
  'passwd',
  'password',
  'pwd',
  'auth',
  'authorization',
  'sig',
  'signature',
  'credential',
  'credentials',
  'jwt',
  'bearer',
];
/** A query parameter is a credential when its name is, or ends in _ - . and, one of SECRET_WORDS (any case). */
export const SECRET_PARAM = new RegExp(`(^|[_.-])(${SECRET_WORDS.join('|')})$`, 'i');

/** scheme://host[:port]/path of a URL, for display; never throws. */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

/** Replace every http(s) URL inside free text (upstream error messages) by its redacted form. */
export function redactUrlsIn(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s"'<>]+/gi, (m) => redactUrl(m));
}

/** Why a configured URL is refused (it carries credentials), or undefined. Never repeats the credential. */
export function urlCredentialProblem(u: string): string | undefined {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return undefined; // the URL's own validation reports it
  }
  const where = redactUrl(u);
  const fix = 'credentials in URLs end up in labels, logs and /status: pass them as a header from a secret reference { file: PATH } or { env: NAME } instead';
  if (url.username || url.password) return `URL ${where} carries credentials in its user:password@ part; ${fix}`;
  const names = [...new Set([...url.searchParams.keys()].filter((k) => SECRET_PARAM.test(k)))];
  if (names.length) return `URL ${where} carries a credential in its query (${names.map((n) => `${n}=…`).join(', ')}); ${fix}`;
  return undefined;
}

/** zod refinement: refuse a configured URL that carries credentials (for .superRefine). */
export function refuseUrlCredentials(u: string, ctx: z.core.$RefinementCtx<string>): void {
  const problem = urlCredentialProblem(u);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}
