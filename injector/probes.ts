// Rewrites an app container's kubelet probes to the proxy's admin port and records the originals
// (named ports resolved) for WEFT_APP_PROBES, per docs/sidecar-config.md "Probes".
import { isObject } from './json-patch.js';

/** The proxy's admin port, where `/app-probe/<container>/<kind>` replays a probe. */
export const ADMIN_PORT = 7020;

/** Probe fields of a container and the kind name used in paths and WEFT_APP_PROBES keys. */
export const PROBE_FIELDS = [
  ['livenessProbe', 'liveness'],
  ['readinessProbe', 'readiness'],
  ['startupProbe', 'startup'],
] as const;

/** A probe kind as it appears in `/app-probe/<container>/<kind>`. */
export type ProbeKind = (typeof PROBE_FIELDS)[number][1];

/** One original probe handler, ports resolved to numbers (the WEFT_APP_PROBES value). */
export type AppProbeSpec =
  | {
      readonly httpGet: {
        readonly path: string;
        readonly port: number;
        readonly scheme: 'HTTP' | 'HTTPS';
        readonly httpHeaders?: readonly { readonly name: string; readonly value: string }[];
      };
      readonly timeoutSeconds?: number;
    }
  | { readonly tcpSocket: { readonly port: number }; readonly timeoutSeconds?: number }
  | { readonly grpc: { readonly port: number; readonly service: string }; readonly timeoutSeconds?: number };

/** What rewriting one container's probes produced. */
export interface ProbeRewrite {
  /** Container field (livenessProbe, ...) -> the probe that replaces it. */
  readonly replaced: ReadonlyMap<string, Record<string, unknown>>;
  /** `<container>/<kind>` -> original handler, for WEFT_APP_PROBES. */
  readonly originals: ReadonlyMap<string, AppProbeSpec>;
  /** Probes left as they were, and why (they still work or are the user's to fix). */
  readonly notes: readonly string[];
}

const HANDLER_KEYS = new Set(['httpGet', 'tcpSocket', 'grpc', 'exec']);

/** Rewrites the HTTP, TCP and gRPC probes of one app container; exec probes are left alone. */
export function rewriteProbes(container: Readonly<Record<string, unknown>>): ProbeRewrite {
  const name = typeof container['name'] === 'string' ? container['name'] : '';
  const replaced = new Map<string, Record<string, unknown>>();
  const originals = new Map<string, AppProbeSpec>();
  const notes: string[] = [];
  for (const [field, kind] of PROBE_FIELDS) {
    const probe = container[field];
    if (!isObject(probe)) continue;
    const where = `container ${name} ${field}`;
    const timeout = typeof probe['timeoutSeconds'] === 'number' ? { timeoutSeconds: probe['timeoutSeconds'] } : {};
    let original: AppProbeSpec | undefined;
    const http = probe['httpGet'];
    const tcp = probe['tcpSocket'];
    const grpc = probe['grpc'];
    if (isObject(http)) {
      if (typeof http['host'] === 'string' && http['host'] !== '') {
        notes.push(`${where} targets host ${http['host']}, not the pod: left as is`);
        continue;
      }
      const port = resolvePort(container, http['port']);
      if (typeof port === 'string') {
        notes.push(`${where}: ${port}: left as is`);
        continue;
      }
      const scheme = http['scheme'] === 'HTTPS' ? 'HTTPS' : 'HTTP';
      const path = typeof http['path'] === 'string' && http['path'] !== '' ? http['path'] : '/';
      const headers = Array.isArray(http['httpHeaders'])
        ? http['httpHeaders'].filter(isObject).map((h) => ({ name: scalarText(h['name']), value: scalarText(h['value']) }))
        : [];
      original = { httpGet: { path, port, scheme, ...(headers.length > 0 ? { httpHeaders: headers } : {}) }, ...timeout };
    } else if (isObject(tcp)) {
      if (typeof tcp['host'] === 'string' && tcp['host'] !== '') {
        notes.push(`${where} targets host ${tcp['host']}, not the pod: left as is`);
        continue;
      }
      const port = resolvePort(container, tcp['port']);
      if (typeof port === 'string') {
        notes.push(`${where}: ${port}: left as is`);
        continue;
      }
      original = { tcpSocket: { port }, ...timeout };
    } else if (isObject(grpc)) {
      const port = grpc['port'];
      if (typeof port !== 'number') {
        notes.push(`${where}: grpc.port is not a number: left as is`);
        continue;
      }
      original = { grpc: { port, service: typeof grpc['service'] === 'string' ? grpc['service'] : '' }, ...timeout };
    } else {
      continue; // exec probes run inside the container and never cross the network
    }
    const rewritten: Record<string, unknown> = {
      httpGet: { path: `/app-probe/${name}/${kind}`, port: ADMIN_PORT, scheme: 'HTTP' },
    };
    for (const [k, v] of Object.entries(probe)) if (!HANDLER_KEYS.has(k)) rewritten[k] = v;
    replaced.set(field, rewritten);
    originals.set(`${name}/${kind}`, original);
  }
  return { replaced, originals, notes };
}

/** A probe port (number, numeric string or port name) as a number, or why it cannot be. */
// A header written `value: 1` in YAML is still the text "1"; an object is no header text at all.
function scalarText(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function resolvePort(container: Readonly<Record<string, unknown>>, port: unknown): number | string {
  if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) return port;
  if (typeof port === 'string' && /^\d+$/.test(port)) {
    const n = Number(port);
    if (n >= 1 && n <= 65535) return n;
  }
  if (typeof port === 'string' && port !== '') {
    const ports = Array.isArray(container['ports']) ? container['ports'].filter(isObject) : [];
    const hit = ports.find((p) => p['name'] === port);
    if (hit && typeof hit['containerPort'] === 'number') return hit['containerPort'];
    return `port name ${JSON.stringify(port)} is not declared in the container's ports`;
  }
  return `port ${JSON.stringify(port)} is not a port number or name`;
}
