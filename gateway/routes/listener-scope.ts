// Which Gateway listeners one socket serves, and which listener port a request on it belongs to
// (the port in its Host, when the socket serves that port). Pure.
import { parseHostPort, type HostPort } from '../../lib/config.js';

/** The protocol of a socket and of the listeners it serves. */
export type Protocol = 'HTTP' | 'HTTPS';

/** One socket's share of the listeners. */
export interface SocketScope {
  readonly protocol: Protocol;
  /** The listener port of requests whose Host names no port this socket serves. */
  readonly port: number;
  /** True for the two default sockets: they also serve every listener port no dedicated socket claims. */
  readonly shared: boolean;
  /** A dedicated socket of one Gateway only ("namespace/name"); undefined: every Gateway. */
  readonly gateway: string | undefined;
  /** Listeners dedicated sockets serve, as "port" or "port namespace/name"; a shared socket skips them. */
  readonly claimed: ReadonlySet<string>;
}

/** A dedicated socket asked for in WEFT_GATEWAY_LISTENER_ADDRS. */
export interface DedicatedSocket {
  readonly protocol: Protocol;
  /** The listener port it serves. */
  readonly port: number;
  /** Only this Gateway ("namespace/name"), or every Gateway with a listener on the port. */
  readonly gateway: string | undefined;
  /** Where it listens. */
  readonly address: HostPort;
}

/** The claim key of a listener: "port" for every Gateway, "port ns/name" for one. */
export function claimKey(port: number, gateway: string | undefined): string {
  return gateway === undefined ? String(port) : `${port} ${gateway}`;
}

/** Parses one `http:8080[:ns/gateway]=host:port` entry; returns a message on failure. */
export function parseDedicatedSocket(raw: string, defaultHost: string): DedicatedSocket | string {
  const eq = raw.indexOf('=');
  if (eq < 0) return `${JSON.stringify(raw)} is not "http|https:<listener port>[:<namespace>/<gateway>]=<host>:<port>"`;
  const m = /^(http|https):(\d{1,5})(?::([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*))?$/.exec(raw.slice(0, eq).trim().toLowerCase());
  if (!m) return `${JSON.stringify(raw.slice(0, eq))} is not "http|https:<listener port>[:<namespace>/<gateway>]"`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `listener port ${port} is out of range`;
  const address = parseHostPort(raw.slice(eq + 1).trim(), defaultHost);
  if (typeof address === 'string') return `${JSON.stringify(raw)}: ${address}`;
  return { protocol: m[1] === 'https' ? 'HTTPS' : 'HTTP', port, gateway: m[3] === undefined ? undefined : `${m[3]}/${m[4] ?? ''}`, address };
}

/** The scopes of the default sockets and of the dedicated ones, in that order. */
export function socketScopes(dedicated: readonly DedicatedSocket[]): { http: SocketScope; https: SocketScope; dedicated: SocketScope[] } {
  const shared = (protocol: Protocol, port: number): SocketScope => {
    const claimed = new Set(dedicated.filter((d) => d.protocol === protocol).map((d) => claimKey(d.port, d.gateway)));
    return { protocol, port, shared: true, gateway: undefined, claimed };
  };
  return {
    http: shared('HTTP', 80),
    https: shared('HTTPS', 443),
    dedicated: dedicated.map((d) => ({ protocol: d.protocol, port: d.port, shared: false, gateway: d.gateway, claimed: new Set<string>() })),
  };
}

/** The default scope of a protocol when no dedicated socket exists (what tests and callers without sockets use). */
export const DEFAULT_SCOPES: Readonly<Record<Protocol, SocketScope>> = Object.freeze({
  HTTP: socketScopes([]).http,
  HTTPS: socketScopes([]).https,
});

/** The port written in a Host / :authority, or undefined when it names none. */
export function authorityPort(authority: string | undefined): number | undefined {
  if (authority === undefined) return undefined;
  const close = authority.lastIndexOf(']');
  const colon = authority.lastIndexOf(':');
  if (colon < 0 || colon < close || colon === authority.length - 1) return undefined;
  // Without brackets, a second colon means a bare IPv6 address, not a port.
  if (close < 0 && authority.indexOf(':') !== colon) return undefined;
  const text = authority.slice(colon + 1);
  if (!/^\d{1,5}$/.test(text)) return undefined;
  return Number(text);
}
