// The mesh-wide egress policy (pure): which destinations outside the mesh a captured pod may
// reach. `allow` passes everything; `registry-only` passes only listed host names (matched on the
// HTTP Host / TLS SNI), IPs and CIDRs (matched on the original destination).
import net from 'node:net';

/** How destinations outside the mesh are treated. */
export type EgressMode = 'allow' | 'registry-only';

/** The egress modes, in the order the docs list them. */
export const EGRESS_MODES: readonly EgressMode[] = ['allow', 'registry-only'];

/** A parsed, validated egress policy; frozen at start. */
export interface EgressPolicy {
  readonly mode: EgressMode;
  /** Exact host names, lower case, no trailing dot. */
  readonly hosts: ReadonlySet<string>;
  /** `*.example.com` entries as `.example.com`: any name below it, not the name itself. */
  readonly suffixes: readonly string[];
  /** Listed IPs and CIDRs. */
  readonly networks: net.BlockList;
  /** The entries as written, for logs and /debug. */
  readonly entries: readonly string[];
}

/** Every destination outside the mesh passes (the default). */
export const ALLOW_ALL: EgressPolicy = Object.freeze({
  mode: 'allow',
  hosts: new Set<string>(),
  suffixes: [],
  networks: new net.BlockList(),
  entries: [],
});

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Parses a mode and its list of entries (host, `*.suffix`, IP or CIDR). Returns the policy, or
 * every problem at once, each naming its entry (`what` names the setting in the messages).
 */
export function parseEgressPolicy(mode: string, entries: readonly string[], what: string): EgressPolicy | string[] {
  const problems: string[] = [];
  if (!(EGRESS_MODES as readonly string[]).includes(mode)) problems.push(`${what}: mode ${JSON.stringify(mode)} is not one of ${EGRESS_MODES.join(', ')}`);
  const hosts = new Set<string>();
  const suffixes: string[] = [];
  const networks = new net.BlockList();
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    const problem = addEntry(entry, hosts, suffixes, networks);
    if (problem) problems.push(`${what}: ${JSON.stringify(raw)} ${problem}`);
  }
  if (problems.length > 0) return problems;
  return Object.freeze({ mode: mode as EgressMode, hosts, suffixes, networks, entries: [...entries] });
}

// Adds one entry to the sets; returns what is wrong with it, or undefined.
function addEntry(entry: string, hosts: Set<string>, suffixes: string[], networks: net.BlockList): string | undefined {
  const slash = entry.indexOf('/');
  if (slash !== -1) {
    const address = entry.slice(0, slash);
    const prefixText = entry.slice(slash + 1);
    const family = net.isIP(address);
    const prefix = Number(prefixText);
    if (family === 0) return 'is not a CIDR: the part before "/" is not an IP address';
    if (!/^\d{1,3}$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) return `is not a CIDR: prefix must be 0-${family === 4 ? 32 : 128}`;
    networks.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return undefined;
  }
  const family = net.isIP(entry);
  if (family !== 0) {
    networks.addAddress(entry, family === 4 ? 'ipv4' : 'ipv6');
    return undefined;
  }
  const wildcard = entry.startsWith('*.');
  const name = (wildcard ? entry.slice(2) : entry).replace(/\.$/, '');
  if (name === '' || !name.split('.').every((label) => LABEL.test(label))) {
    return 'is not a host name, *.suffix, IP address or CIDR';
  }
  if (wildcard) suffixes.push(`.${name}`);
  else hosts.add(name);
  return undefined;
}

/**
 * True when the policy lets a destination outside the mesh through: always in `allow` mode; in
 * `registry-only` when the host name (Host / SNI, without its port) or the original destination
 * address is listed.
 */
export function egressAllows(policy: EgressPolicy, host: string | undefined, address: string | undefined): boolean {
  if (policy.mode === 'allow') return true;
  if (host !== undefined && host !== '') {
    const name = host.toLowerCase().replace(/\.$/, '');
    if (policy.hosts.has(name)) return true;
    for (const suffix of policy.suffixes) if (name.endsWith(suffix)) return true;
  }
  if (address !== undefined) {
    const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
    const family = net.isIP(plain);
    if (family !== 0 && policy.networks.check(plain, family === 4 ? 'ipv4' : 'ipv6')) return true;
  }
  return false;
}
