// The pod's capture rules as data: `weft init` options in, the exact iptables-restore input for the
// nat table out. Pure: reading the current rules and running iptables belong to cli/init.ts.
import { ConfigReader, bool, int, list, oneOf, port, setting, type Setting } from '../lib/config.js';
import { ADMIN_PORT, INBOUND_PORT, OUTBOUND_PORT, PROXY_UID } from '../lib/ports.js';

/** An inclusive port range; a single port has from === to. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** An address family the rules are written for: iptables (4) or ip6tables (6). */
export type IpFamily = 4 | 6;

/** A network in CIDR form, already checked (no host bits set). */
export interface Cidr {
  readonly family: IpFamily;
  /** The network address as written (e.g. "10.96.0.0", "fd00::"). */
  readonly address: string;
  readonly prefix: number;
}

/** How inbound TCP is treated: strict sends everything to the mTLS listener, permissive nothing. */
export type InboundMode = 'strict' | 'permissive';

/** Whether `weft init` writes ip6tables rules: auto means when the pod has IPv6 and ip6tables. */
export type Ipv6Setting = 'auto' | 'on' | 'off';

/** Everything `weft init` needs to know, parsed. */
export interface CaptureOptions {
  /** The proxy's UID: its own connections are never redirected. */
  readonly proxyUid: number;
  /** The proxy's mTLS listener for other sidecars (7006). */
  readonly inboundPort: number;
  /** The proxy's plain listener for the app's outgoing calls (7001). */
  readonly outboundPort: number;
  /** The proxy's admin listener (7020): kubelet probes land here, never redirected. */
  readonly adminPort: number;
  readonly inboundMode: InboundMode;
  /** Inbound destination ports left alone (reach the app directly). */
  readonly skipInboundPorts: readonly PortRange[];
  /** Outbound destination ports left alone (e.g. a database the mesh should not touch). */
  readonly skipOutboundPorts: readonly PortRange[];
  /** Outbound destination networks left alone, both families; each family's rules use its own. */
  readonly skipOutboundCidrs: readonly Cidr[];
  readonly ipv6: Ipv6Setting;
  /** Print the rules instead of applying them. */
  readonly dryRun: boolean;
  /** Change the rules: set by the injector in the pod's init container, or --apply by a person. */
  readonly apply: boolean;
}

/** `weft init`'s settings table (rendered into docs/sidecar-config.md): each variable and the flag that overrides it. */
export const INIT_SETTINGS = {
  proxyUid: setting({ name: 'WEFT_PROXY_UID', flag: '--proxy-uid', type: int({ min: 1, max: 4294967294 }, 'UID'), default: PROXY_UID, doc: 'traffic of this UID (the proxy) is never redirected' }),
  inboundPort: setting({ name: 'WEFT_INBOUND_PORT', flag: '--inbound-port', type: port(), default: INBOUND_PORT, doc: "the proxy's mTLS listener: inbound TCP is redirected there" }),
  outboundPort: setting({ name: 'WEFT_OUTBOUND_PORT', flag: '--outbound-port', type: port(), default: OUTBOUND_PORT, doc: "the proxy's outbound listener: outgoing TCP is redirected there" }),
  adminPort: setting({ name: 'WEFT_ADMIN_PORT', flag: '--admin-port', type: port(), default: ADMIN_PORT, doc: 'never redirected (kubelet probes)' }),
  inboundMode: setting({ name: 'WEFT_INBOUND_MODE', flag: '--inbound-mode', type: oneOf(['strict', 'permissive'] as const), default: 'strict', doc: 'strict: all inbound TCP goes through the proxy; permissive: none is redirected' }),
  skipInboundPorts: setting({ name: 'WEFT_SKIP_INBOUND_PORTS', flag: '--skip-inbound-ports', type: list('port or range (9000-9100)'), default: [], doc: 'inbound destination ports left alone' }),
  skipOutboundPorts: setting({ name: 'WEFT_SKIP_OUTBOUND_PORTS', flag: '--skip-outbound-ports', type: list('port or range'), default: [], doc: 'outbound destination ports left alone' }),
  skipOutboundCidrs: setting({ name: 'WEFT_SKIP_OUTBOUND_CIDRS', flag: '--skip-outbound-cidrs', type: list('CIDR'), default: [], doc: 'outbound destination networks left alone (each family uses its own)' }),
  ipv6: setting({ name: 'WEFT_IPV6', flag: '--ipv6', type: oneOf(['auto', 'on', 'off'] as const), default: 'auto', doc: '`auto`: ip6tables rules when the pod has IPv6 and ip6tables exists; `on`: required; `off`' }),
  dryRun: setting({ name: 'WEFT_DRY_RUN', flag: '--dry-run', type: bool(), default: false, doc: 'print the rules, change nothing' }),
  apply: setting({ name: 'WEFT_INIT_APPLY', flag: '--apply', type: bool(), default: false, doc: "change the rules of the network namespace weft init runs in; the injector sets it in the pod's init container, and without it (or --dry-run) weft init refuses" }),
} as const;

/** A setting's key in CaptureOptions. */
export type CaptureSetting = keyof typeof INIT_SETTINGS;

/** The names a setting is read under: the environment variable, and the flag that overrides it. */
export const CAPTURE_SETTINGS = Object.fromEntries(
  Object.entries(INIT_SETTINGS).map(([key, row]) => [key, { env: row.name, flag: row.flag ?? '' }]),
) as { readonly [K in CaptureSetting]: { readonly env: string; readonly flag: string } };

/** Our chains. Own chains (as Linkerd's proxy-init and Istio's istio-iptables keep) make re-runs and removal exact. */
export const CHAINS = {
  prerouting: 'WEFT_PREROUTING',
  inbound: 'WEFT_INBOUND',
  output: 'WEFT_OUTPUT',
  outbound: 'WEFT_OUTBOUND',
} as const;

/** The jumps from the built-in chains into ours; the only rules we add outside our chains. */
export const JUMPS: readonly { readonly builtin: 'PREROUTING' | 'OUTPUT'; readonly rule: string }[] = [
  { builtin: 'PREROUTING', rule: `-A PREROUTING -j ${CHAINS.prerouting}` },
  { builtin: 'OUTPUT', rule: `-A OUTPUT -j ${CHAINS.output}` },
];

/**
 * Parses the settings from a string map whose keys are the names in CAPTURE_SETTINGS (the flag
 * name when the flag was given, else the environment name; see captureSource). Every problem is
 * listed in one WEFT_ERR_CONFIG, together with `argumentProblems` from captureSource.
 */
export function parseCaptureOptions(
  source: Readonly<Record<string, string | undefined>>,
  argumentProblems: readonly string[] = [],
): CaptureOptions {
  const reader = new ConfigReader(source);
  for (const problem of argumentProblems) reader.problem(problem);
  const name = (setting: CaptureSetting): string =>
    source[CAPTURE_SETTINGS[setting].flag] !== undefined ? CAPTURE_SETTINGS[setting].flag : CAPTURE_SETTINGS[setting].env;
  // Read under the flag's name when the flag was given, so a problem names what the user typed.
  const read = <T>(setting: CaptureSetting, row: Setting<T>): T => reader.setting({ ...row, name: name(setting) });

  const proxyUid = read('proxyUid', INIT_SETTINGS.proxyUid);
  const inboundPort = read('inboundPort', INIT_SETTINGS.inboundPort);
  const outboundPort = read('outboundPort', INIT_SETTINGS.outboundPort);
  const adminPort = read('adminPort', INIT_SETTINGS.adminPort);
  const inboundMode = read('inboundMode', INIT_SETTINGS.inboundMode);
  const ipv6 = read('ipv6', INIT_SETTINGS.ipv6);
  const dryRun = read('dryRun', INIT_SETTINGS.dryRun);
  const apply = read('apply', INIT_SETTINGS.apply);

  const ranges = (setting: 'skipInboundPorts' | 'skipOutboundPorts'): PortRange[] => {
    const out: PortRange[] = [];
    for (const item of read(setting, INIT_SETTINGS[setting])) {
      const parsed = parsePortRange(item);
      if (typeof parsed === 'string') reader.problem(`${name(setting)}: ${parsed}`);
      else out.push(parsed);
    }
    return dedupeRanges(out);
  };
  const skipInboundPorts = ranges('skipInboundPorts');
  const skipOutboundPorts = ranges('skipOutboundPorts');

  const skipOutboundCidrs: Cidr[] = [];
  for (const item of read('skipOutboundCidrs', INIT_SETTINGS.skipOutboundCidrs)) {
    const parsed = parseCidr(item);
    if (typeof parsed === 'string') reader.problem(`${name('skipOutboundCidrs')}: ${parsed}`);
    else if (!skipOutboundCidrs.some((c) => c.address === parsed.address && c.prefix === parsed.prefix)) skipOutboundCidrs.push(parsed);
  }

  // The three proxy ports must differ, or a redirect would loop into the wrong listener.
  const ports: [CaptureSetting, number][] = [['inboundPort', inboundPort], ['outboundPort', outboundPort], ['adminPort', adminPort]];
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [a, pa] = ports[i] as [CaptureSetting, number];
      const [b, pb] = ports[j] as [CaptureSetting, number];
      if (pa === pb) reader.problem(`${name(a)} and ${name(b)} are both ${pa}; the proxy's ports must differ`);
    }
  }
  reader.done();
  return Object.freeze({
    proxyUid, inboundPort, outboundPort, adminPort, inboundMode,
    skipInboundPorts, skipOutboundPorts, skipOutboundCidrs, ipv6, dryRun, apply,
  });
}

/** Parses "8080" or "9000-9100"; returns a message on failure. */
export function parsePortRange(raw: string): PortRange | string {
  const m = /^(\d+)(?:-(\d+))?$/.exec(raw.trim());
  if (!m) return `${JSON.stringify(raw)} is not a port or a port range (8080 or 9000-9100)`;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  for (const p of [from, to]) {
    if (p < 1 || p > 65535) return `${JSON.stringify(raw)}: port ${p} is out of range 1-65535`;
  }
  if (to < from) return `${JSON.stringify(raw)}: the range ends before it starts`;
  return { from, to };
}

function dedupeRanges(ranges: PortRange[]): PortRange[] {
  const seen = new Set<string>();
  return ranges.filter((r) => {
    const key = `${r.from}-${r.to}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Parses "10.96.0.0/12", "fd00::/8" or a bare address (a /32 or /128). A network with host bits
 * set is refused, naming the network it probably meant: iptables would silently mask it.
 */
export function parseCidr(raw: string): Cidr | string {
  const text = raw.trim();
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  const bytes = parseAddress(addressText);
  if (bytes === undefined) return `${JSON.stringify(raw)} is not an IPv4 or IPv6 address or CIDR`;
  const family: IpFamily = bytes.length === 4 ? 4 : 6;
  const bits = bytes.length * 8;
  let prefix = bits;
  if (prefixText !== undefined) {
    if (!/^\d+$/.test(prefixText) || Number(prefixText) > bits) {
      return `${JSON.stringify(raw)}: the prefix length must be 0-${bits}`;
    }
    prefix = Number(prefixText);
  }
  const network = maskBytes(bytes, prefix);
  if (network.some((b, i) => b !== bytes[i])) {
    return `${JSON.stringify(raw)} has host bits set; did you mean ${formatAddress(network)}/${prefix}?`;
  }
  return { family, address: formatAddress(network), prefix };
}

/** Parses a dotted IPv4 or an IPv6 address (with ::, and an IPv4 tail) into bytes. */
export function parseAddress(text: string): number[] | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split('.').map(Number);
    return parts.every((p) => p <= 255) ? parts : undefined;
  }
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  // An IPv4 tail ("::ffff:10.0.0.1") may only end the whole address.
  const groups = (part: string, last: boolean): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i] ?? '';
      if (item.includes('.') && last && i === items.length - 1) {
        const v4 = parseAddress(item);
        if (v4?.length !== 4) return undefined;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(item)) {
        out.push(parseInt(item, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1] ?? '', true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const words = [...head, ...new Array<number>(missing).fill(0), ...tail];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

function maskBytes(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
}

/** Formats bytes as dotted IPv4 or canonical (RFC 5952) IPv6. */
export function formatAddress(bytes: readonly number[]): string {
  if (bytes.length === 4) return bytes.join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // The longest run of two or more zero words becomes "::" (the first one on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (best === -1) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

function portMatch(range: PortRange): string {
  return range.from === range.to ? `${range.from}` : `${range.from}:${range.to}`;
}

function comment(text: string): string {
  return `-m comment --comment "weft: ${text}"`;
}

/** What the current nat table already holds, as far as the rules care. */
export interface ExistingRules {
  /** The jumps into our chains already present, as written in JUMPS (e.g. "-A OUTPUT -j WEFT_OUTPUT"). */
  readonly jumps: ReadonlySet<string>;
}

/** Reads `iptables-save -t nat` output for the jumps into our chains. */
export function existingRulesFromSave(save: string): ExistingRules {
  const lines = new Set(save.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')));
  return { jumps: new Set(JUMPS.map((j) => j.rule).filter((rule) => lines.has(rule))) };
}

/**
 * The iptables-restore input for one family, meant for `iptables-restore --noflush`: it declares
 * our four chains (which flushes them when they exist), fills them, and adds the jumps from
 * PREROUTING and OUTPUT only when `existing` lacks them. Applied in one transaction, so a re-run
 * swaps the old rules for the new ones atomically and running twice leaves the same table.
 */
export function renderRules(options: CaptureOptions, family: IpFamily, existing: ExistingRules = { jumps: new Set() }): string {
  const { prerouting, inbound, output, outbound } = CHAINS;
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';
  const lines: string[] = [
    `# weft init: nat rules for ${family === 4 ? 'iptables (IPv4)' : 'ip6tables (IPv6)'}, inbound mode ${options.inboundMode}`,
    '*nat',
    `:${prerouting} - [0:0]`,
    `:${inbound} - [0:0]`,
    `:${output} - [0:0]`,
    `:${outbound} - [0:0]`,
  ];

  // Inbound: packets arriving from outside the pod. Locally made connections never pass PREROUTING.
  if (options.inboundMode === 'strict') {
    lines.push(
      `-A ${prerouting} -p tcp --dport ${options.inboundPort} ${comment('mesh peers dial the inbound listener directly')} -j RETURN`,
      `-A ${prerouting} -p tcp --dport ${options.adminPort} ${comment('admin port: kubelet probes, metrics')} -j RETURN`,
      ...options.skipInboundPorts.map(
        (r) => `-A ${prerouting} -p tcp --dport ${portMatch(r)} ${comment('skip-inbound-ports')} -j RETURN`,
      ),
      `-A ${prerouting} -p tcp ${comment('every other inbound connection')} -j ${inbound}`,
      // Plaintext clients land on the TLS listener and fail the handshake: only mesh traffic gets in.
      `-A ${inbound} -p tcp ${comment('to the mTLS listener')} -j REDIRECT --to-ports ${options.inboundPort}`,
    );
  }
  // Permissive: nothing is redirected inbound; plaintext clients reach the app, peers dial the
  // inbound port themselves. The chains stay declared (and empty) so switching modes is a re-run.

  // Outbound: connections made inside the pod.
  lines.push(
    `-A ${output} -m owner --uid-owner ${options.proxyUid} ${comment("the proxy's own connections")} -j RETURN`,
    `-A ${output} -o lo ${comment('loopback: the pod talking to itself')} -j RETURN`,
    `-A ${output} -d ${loopback} ${comment('loopback destinations')} -j RETURN`,
    ...options.skipOutboundCidrs
      .filter((c) => c.family === family)
      .map((c) => `-A ${output} -d ${c.address}/${c.prefix} ${comment('skip-outbound-cidrs')} -j RETURN`),
    ...options.skipOutboundPorts.map(
      (r) => `-A ${output} -p tcp --dport ${portMatch(r)} ${comment('skip-outbound-ports')} -j RETURN`,
    ),
    `-A ${output} -p tcp ${comment('every other outbound connection')} -j ${outbound}`,
    `-A ${outbound} -p tcp ${comment('to the outbound listener')} -j REDIRECT --to-ports ${options.outboundPort}`,
  );

  for (const jump of JUMPS) {
    if (!existing.jumps.has(jump.rule)) lines.push(jump.rule);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/**
 * Builds the string map parseCaptureOptions reads from command-line arguments and the environment:
 * a flag overrides its variable. Unknown flags and flags missing a value are returned as problems.
 */
export function captureSource(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { source: Record<string, string | undefined>; problems: string[] } {
  const source: Record<string, string | undefined> = {};
  const problems: string[] = [];
  const byFlag = new Map<string, CaptureSetting>(
    (Object.keys(CAPTURE_SETTINGS) as CaptureSetting[]).map((k) => [CAPTURE_SETTINGS[k].flag, k]),
  );
  for (const setting of Object.keys(CAPTURE_SETTINGS) as CaptureSetting[]) {
    const envName = CAPTURE_SETTINGS[setting].env;
    if (env[envName] !== undefined) source[envName] = env[envName];
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const setting = byFlag.get(flag);
    if (setting === undefined) {
      problems.push(`unknown argument ${JSON.stringify(arg)}`);
      continue;
    }
    if ((setting === 'dryRun' || setting === 'apply') && eq === -1) {
      source[flag] = 'true';
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !(argv[i + 1] ?? '').startsWith('--')) value = argv[++i];
    if (value === undefined) problems.push(`${flag} needs a value`);
    else source[flag] = value;
  }
  return { source, problems };
}
