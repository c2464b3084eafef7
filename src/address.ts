// Socket addresses written as text: "IP:PORT" with IPv6 in brackets ("[::1]:53"). DNS servers and
// resolvers are named by address only (the client sends raw queries to them, so a name would itself
// need a resolver); listen addresses may name a host. One parser and one formatter for all of them.
import { isIP, isIPv4, isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

export const IP_PORT_HELP = 'expected IP:PORT, e.g. 127.0.0.53:53 or [::1]:53 (IPv6 in brackets)';

/** Why `s` is not an "IP:PORT" address, in words a config author can act on; undefined when it is one. */
export function ipPortProblem(s: string): string | undefined {
  const m = /^\[([^\]]*)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]*):(\d{1,5})$/.exec(s);
  if (!m) {
    if (isIPv6(s)) return `"${s}" has no port, or is an IPv6 address not in brackets: write it as [ADDRESS]:PORT, e.g. [::1]:53`;
    if (isIP(s)) return `"${s}" has no port: ${IP_PORT_HELP}`;
    if (isIPv6(s.replace(/:\d{1,5}$/, ''))) return `"${s}": put an IPv6 address in brackets, e.g. [::1]:53`;
    return `"${s}" is not ${IP_PORT_HELP}`;
  }
  const host = m[1]!;
  const port = Number(m[2]);
  const bracketed = s.startsWith('[');
  if (bracketed ? !isIPv6(host) : !isIPv4(host)) {
    return /[a-z]/i.test(host) && !bracketed
      ? `"${s}": host names are not accepted here, only addresses (the DNS client queries an IP directly and cannot resolve the resolver's own name); ${IP_PORT_HELP}`
      : `"${s}": "${host}" is not an ${bracketed ? 'IPv6' : 'IPv4'} address; ${IP_PORT_HELP}`;
  }
  if (port < 1 || port > 65535) return `"${s}": port ${port} is out of range 1-65535`;
  return undefined;
}

/** Parse "IP:PORT" or "[v6]:PORT"; a bare IP gets `defaultPort` when one is given. Throws with the reason. */
export function parseIpPort(s: string, defaultPort?: number): HostPort {
  if (defaultPort !== undefined && isIP(s)) return { host: s, port: defaultPort };
  const problem = ipPortProblem(s);
  if (problem) throw new Error(`invalid address ${problem}`);
  const i = s.lastIndexOf(':');
  return { host: unbracket(s.slice(0, i)), port: Number(s.slice(i + 1)) };
}

/** "HOST:PORT" or ":PORT" (all interfaces), the form of --web.listen-address; HOST may be a name. */
export function parseListenAddress(addr: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid --web.listen-address "${addr}": expected HOST:PORT or :PORT`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A URL's hostname without the brackets WHATWG keeps around IPv6 literals. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
