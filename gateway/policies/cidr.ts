// IPv4 and IPv6 CIDR parsing and matching (IPv4-mapped IPv6 addresses count as IPv4). Pure.
import { isIP } from 'node:net';

/** A parsed CIDR: the network as a bigint, the prefix length and the address family. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly bits: number;
  readonly text: string;
}

/** Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). */
export function parseCidr(text: string): Cidr | string {
  const [addr = '', len] = text.trim().split('/');
  const family = isIP(addr);
  if (family === 0) return `${JSON.stringify(text)} is not an IP address or CIDR`;
  const max = family === 4 ? 32 : 128;
  const bits = len === undefined ? max : /^\d+$/.test(len) ? Number(len) : NaN;
  if (!(bits >= 0 && bits <= max)) return `${JSON.stringify(text)} has an invalid prefix length`;
  const value = toBigInt(addr, family as 4 | 6);
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(max - bits);
  return { family: family as 4 | 6, network: value & mask, bits, text };
}

/** True when `ip` (any textual form node gives, including ::ffff:a.b.c.d) is inside `cidr`. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const norm = normalizeIp(ip);
  const family = isIP(norm);
  if (family !== cidr.family) return false;
  const max = family === 4 ? 32 : 128;
  const mask = cidr.bits === 0 ? 0n : ((1n << BigInt(cidr.bits)) - 1n) << BigInt(max - cidr.bits);
  return (toBigInt(norm, family) & mask) === cidr.network;
}

/** True when any of the CIDRs contains the address. */
export function anyContains(cidrs: readonly Cidr[], ip: string): boolean {
  return cidrs.some((c) => cidrContains(c, ip));
}

/** Strips the IPv4-mapped prefix and zone so "::ffff:127.0.0.1" compares as 127.0.0.1. */
export function normalizeIp(ip: string): string {
  const noZone = ip.split('%')[0] ?? ip;
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(noZone);
  return m?.[1] ?? noZone;
}

function toBigInt(addr: string, family: 4 | 6): bigint {
  if (family === 4) return addr.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  let text = addr;
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = Number(toBigInt(v4[1], 4));
    text = text.slice(0, -v4[1].length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/**
 * The client address: the socket peer, or when the peer is a trusted proxy, the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy (entries left of it are client-made).
 */
export function clientIp(peer: string, xff: string | undefined, trusted: readonly Cidr[]): string {
  let ip = normalizeIp(peer);
  if (!xff || !anyContains(trusted, ip)) return ip;
  const hops = xff.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i] ?? '');
    if (isIP(hop) === 0) return ip;
    ip = hop;
    if (!anyContains(trusted, hop)) return hop;
  }
  return ip;
}
