// Reads a pod's `config.weft.dev/*` annotations into per-pod overrides. Values that change where
// traffic goes or what the pod may use are rejected when malformed; cosmetic ones fall back to
// the default with a warning. Every problem is collected, so a pod is never half-configured.
import { isIP } from 'node:net';
import { SIDECAR_PORTS as SIDECAR_PORT_NUMBERS } from '../lib/ports.js';
import { DEFAULT_INBOUND_POLICIES, isDefaultInboundPolicy, type DefaultInboundPolicy } from '../mesh/authz/policy.js';
import { LOG_LEVELS, isQuantity, quantityValue, type InboundMode, type LogLevel, type ProxyResources } from './settings.js';

/** Prefix of every per-pod setting. */
export const CONFIG_PREFIX = 'config.weft.dev/';

/** The per-pod settings read from annotations; absent fields mean "use the injector default". */
export interface PodOverrides {
  readonly skipInboundPorts?: string;
  readonly skipOutboundPorts?: string;
  readonly skipOutboundCidrs?: string;
  readonly upstreams?: string;
  /** Ports whose outbound streams skip protocol detection (WEFT_OPAQUE_PORTS). */
  readonly opaquePorts?: string;
  readonly logLevel?: LogLevel;
  /** The pod's access log for successful requests (WEFT_ACCESS_LOG), over the mesh-wide default. */
  readonly accessLog?: boolean;
  readonly inboundMode?: InboundMode;
  /** The pod's default inbound policy (WEFT_DEFAULT_INBOUND_POLICY), over its namespace's. */
  readonly defaultInboundPolicy?: DefaultInboundPolicy;
  readonly resources: ProxyResources;
}

/** Overrides plus what was wrong: errors reject the pod, warnings go back in the AdmissionReview. */
export interface ParsedAnnotations {
  readonly overrides: PodOverrides;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

/** How a malformed value of each known annotation is handled (documented in docs/injection.md). */
export const ANNOTATION_POLICY = {
  'skip-inbound-ports': 'reject',
  'skip-outbound-ports': 'reject',
  'skip-outbound-cidrs': 'reject',
  upstreams: 'reject',
  'opaque-ports': 'reject',
  'proxy-cpu-request': 'reject',
  'proxy-cpu-limit': 'reject',
  'proxy-memory-request': 'reject',
  'proxy-memory-limit': 'reject',
  'inbound-mode': 'reject',
  'default-inbound-policy': 'reject',
  'log-level': 'warn',
  'access-log': 'warn',
} as const;

/** Ports the sidecar itself owns; upstreams may not take them. */
const SIDECAR_PORTS: ReadonlySet<number> = new Set(Object.values(SIDECAR_PORT_NUMBERS));

/** Parses the `config.weft.dev/*` annotations of one pod. */
export function parseAnnotations(annotations: Readonly<Record<string, string>>): ParsedAnnotations {
  const errors: string[] = [];
  const warnings: string[] = [];
  const bad = (name: string, value: string, why: string): void => {
    errors.push(`annotation ${CONFIG_PREFIX}${name}=${JSON.stringify(value)}: ${why}`);
  };
  const get = (name: string): string | undefined => {
    const v = annotations[CONFIG_PREFIX + name];
    return v === undefined ? undefined : v.trim();
  };
  const out: {
    -readonly [K in keyof PodOverrides]: PodOverrides[K];
  } = { resources: {} };

  for (const key of Object.keys(annotations)) {
    if (key.startsWith(CONFIG_PREFIX) && !(key.slice(CONFIG_PREFIX.length) in ANNOTATION_POLICY)) {
      warnings.push(`annotation ${key} is not a weft setting and was ignored`);
    }
  }

  for (const name of ['skip-inbound-ports', 'skip-outbound-ports', 'opaque-ports'] as const) {
    const raw = get(name);
    if (raw === undefined || raw === '') continue;
    const parsed = parsePortList(raw);
    if (parsed.error !== undefined) bad(name, raw, parsed.error);
    else if (name === 'skip-inbound-ports') out.skipInboundPorts = parsed.value;
    else if (name === 'skip-outbound-ports') out.skipOutboundPorts = parsed.value;
    else out.opaquePorts = parsed.value;
  }

  const cidrs = get('skip-outbound-cidrs');
  if (cidrs !== undefined && cidrs !== '') {
    const parsed = parseCidrList(cidrs);
    if (parsed.error !== undefined) bad('skip-outbound-cidrs', cidrs, parsed.error);
    else out.skipOutboundCidrs = parsed.value;
  }

  const upstreams = get('upstreams');
  if (upstreams !== undefined && upstreams !== '') {
    const parsed = parseUpstreams(upstreams);
    if (parsed.error !== undefined) bad('upstreams', upstreams, parsed.error);
    else out.upstreams = parsed.value;
  }

  const mode = get('inbound-mode');
  if (mode !== undefined) {
    if (mode === 'strict' || mode === 'permissive') out.inboundMode = mode;
    else bad('inbound-mode', mode, 'must be strict or permissive');
  }

  const defaultPolicy = get('default-inbound-policy');
  if (defaultPolicy !== undefined) {
    if (isDefaultInboundPolicy(defaultPolicy)) out.defaultInboundPolicy = defaultPolicy;
    else bad('default-inbound-policy', defaultPolicy, `must be one of ${DEFAULT_INBOUND_POLICIES.join(', ')}`);
  }

  const level = get('log-level');
  if (level !== undefined) {
    if ((LOG_LEVELS as readonly string[]).includes(level)) out.logLevel = level as LogLevel;
    else {
      warnings.push(
        `annotation ${CONFIG_PREFIX}log-level=${JSON.stringify(level)} is not one of ${LOG_LEVELS.join(', ')}; the default level is used`,
      );
    }
  }

  const accessLog = get('access-log');
  if (accessLog !== undefined) {
    if (accessLog === 'true' || accessLog === 'false') out.accessLog = accessLog === 'true';
    else warnings.push(`annotation ${CONFIG_PREFIX}access-log=${JSON.stringify(accessLog)} is not true or false; the default is used`);
  }

  const resources: { -readonly [K in keyof ProxyResources]: string } = {};
  const resourceNames = [
    ['proxy-cpu-request', 'cpuRequest'],
    ['proxy-cpu-limit', 'cpuLimit'],
    ['proxy-memory-request', 'memoryRequest'],
    ['proxy-memory-limit', 'memoryLimit'],
  ] as const;
  for (const [name, field] of resourceNames) {
    const raw = get(name);
    if (raw === undefined) continue;
    if (!isQuantity(raw)) bad(name, raw, 'is not a Kubernetes quantity (e.g. 100m, 1, 64Mi, 1Gi)');
    else resources[field] = raw;
  }
  out.resources = resources;
  return { overrides: out, errors, warnings };
}

/** A validated list, normalised (entries trimmed, joined by commas), or why it is not valid. */
export type ListResult = { readonly value: string; readonly error?: undefined } | { readonly error: string; readonly value?: undefined };

/** Checks request <= limit for CPU and memory after defaults and overrides are merged. */
export function checkResources(res: ProxyResources): string[] {
  const problems: string[] = [];
  const pairs = [
    ['cpu', res.cpuRequest, res.cpuLimit],
    ['memory', res.memoryRequest, res.memoryLimit],
  ] as const;
  for (const [what, request, limit] of pairs) {
    if (request === undefined || limit === undefined) continue;
    const r = quantityValue(request);
    const l = quantityValue(limit);
    if (r !== undefined && l !== undefined && r > l) {
      problems.push(
        `proxy ${what} request ${request} is above its limit ${limit} (annotations ${CONFIG_PREFIX}proxy-${what}-request / ${CONFIG_PREFIX}proxy-${what}-limit)`,
      );
    }
  }
  return problems;
}

/** "80, 8000-8010" -> "80,8000-8010", or a message saying which entry is wrong. */
export function parsePortList(raw: string): ListResult {
  const entries = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) return { error: 'lists no port' };
  for (const e of entries) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(e);
    if (!m) return { error: `entry ${JSON.stringify(e)} is not a port or a range like 8000-8010` };
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535) return { error: `entry ${JSON.stringify(e)} is outside 1-65535` };
    if (hi < lo) return { error: `range ${JSON.stringify(e)} ends before it starts` };
  }
  return validList(entries);
}

/** "10.0.0.0/8,fd00::/8" validated, or a message naming the bad entry. */
export function parseCidrList(raw: string): ListResult {
  const entries = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) return { error: 'lists no CIDR' };
  for (const e of entries) {
    const [addr = '', prefix, extra] = e.split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || prefix === undefined || extra !== undefined || !/^\d+$/.test(prefix) || Number(prefix) > max) {
      return { error: `entry ${JSON.stringify(e)} is not a CIDR like 10.0.0.0/8 or fd00::/8` };
    }
  }
  return validList(entries);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** "orders:9001,billing.pay:9002" validated, or a message naming the bad entry. */
export function parseUpstreams(raw: string): ListResult {
  const entries = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) return { error: 'lists no upstream' };
  const seen = new Set<number>();
  for (const e of entries) {
    const m = /^([^:]+):(\d+)$/.exec(e);
    if (!m) return { error: `entry ${JSON.stringify(e)} is not svc[.namespace]:localPort` };
    const labels = (m[1] ?? '').split('.');
    if (labels.length > 2 || !labels.every((l) => DNS_LABEL.test(l))) {
      return { error: `entry ${JSON.stringify(e)}: ${JSON.stringify(m[1])} is not a service name or service.namespace` };
    }
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return { error: `entry ${JSON.stringify(e)}: port ${port} is outside 1-65535` };
    if (SIDECAR_PORTS.has(port)) return { error: `entry ${JSON.stringify(e)}: port ${port} belongs to the sidecar` };
    if (seen.has(port)) return { error: `entry ${JSON.stringify(e)}: local port ${port} is used twice` };
    seen.add(port);
  }
  return validList(entries);
}

function validList(entries: readonly string[]): ListResult {
  return { value: entries.join(',') };
}
