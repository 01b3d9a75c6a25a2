// Reading what `weft destination` sends (pure): one JSON snapshot per line, checked field by
// field, since a proxy must not route on a malformed answer. The server side writes the same
// shape (destination/watch-kinds.ts snapshotToWire): an unknown service is `endpoints: null`.
import type { Endpoint, ServiceRef, ServiceSnapshot } from './endpoint-source.js';

const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 65535;
const isPorts = (v: unknown): v is number[] => Array.isArray(v) && v.every(isPort);

/** One endpoint from the wire, or undefined when a required field is missing or mistyped. */
function readEndpoint(raw: unknown): Endpoint | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const e = raw as Record<string, unknown>;
  if (typeof e['address'] !== 'string' || !isPort(e['port']) || typeof e['identity'] !== 'string' || typeof e['ready'] !== 'boolean') return undefined;
  return {
    address: e['address'],
    port: e['port'],
    identity: e['identity'],
    ready: e['ready'],
    ...(typeof e['podName'] === 'string' ? { podName: e['podName'] } : {}),
    ...(typeof e['serving'] === 'boolean' ? { serving: e['serving'] } : {}),
    ...(typeof e['terminating'] === 'boolean' ? { terminating: e['terminating'] } : {}),
    ...(typeof e['meshed'] === 'boolean' ? { meshed: e['meshed'] } : {}),
    ...(isPorts(e['opaquePorts']) ? { opaquePorts: e['opaquePorts'] } : {}),
  };
}

/**
 * The snapshot of `ref` in one line, or undefined when the line is not one (bad JSON, another
 * service, a malformed endpoint: the whole line is refused rather than half-applied).
 */
export function readSnapshotLine(line: string, ref: ServiceRef): ServiceSnapshot | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const p = parsed as Record<string, unknown>;
  const r = p['ref'] as Record<string, unknown> | undefined;
  if (!r || r['namespace'] !== ref.namespace || r['name'] !== ref.name || r['port'] !== ref.port) return undefined;
  const opaque = isPorts(p['opaquePorts']) ? { opaquePorts: p['opaquePorts'] } : {};
  if (p['endpoints'] === null) return { ref, endpoints: undefined };
  if (!Array.isArray(p['endpoints'])) return undefined;
  const endpoints: Endpoint[] = [];
  for (const raw of p['endpoints']) {
    const e = readEndpoint(raw);
    if (!e) return undefined;
    endpoints.push(e);
  }
  return { ref, endpoints, ...opaque };
}
