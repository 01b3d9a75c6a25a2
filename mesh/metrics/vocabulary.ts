// The one metrics vocabulary of the proxy and the gateway (pure): series names, label names, and
// how a request's facts become bounded label values (docs/metrics.md lists every bound).
import { SettingProblem, setting, type SettingType } from '../../lib/config.js';

/** The per-request series both processes register, with the same names, labels and help. */
export const REQUEST_SERIES = {
  requests: 'weft_requests_total',
  responses: 'weft_responses_total',
  latency: 'weft_response_latency_seconds',
} as const;

/** Labels of weft_requests_total, in the order the series prints them. */
export const REQUEST_LABELS = ['direction', 'service', 'route', 'tls', 'src_workload', 'src_namespace', 'dst_workload', 'dst_namespace'] as const;
/** Labels of weft_responses_total: the request's, then how it was answered. */
export const RESPONSE_LABELS = [...REQUEST_LABELS, 'status_code', 'grpc_status', 'error_code'] as const;
/** Labels of weft_response_latency_seconds. */
export const LATENCY_LABELS = ['direction', 'service', 'route', 'status_code'] as const;

/** Help texts shared by both processes (one metric, one meaning). */
export const REQUEST_HELP = {
  requests: 'Requests received, by direction, service, route, tls and source/destination workload and namespace.',
  responses: 'Responses sent, by the request labels plus status_code, grpc_status ("" when not gRPC) and weft error code.',
  latency: 'Time from request received to response headers sent, by direction, service, route and status_code.',
} as const;

/** The label value every unknown or unparsable fact folds into. */
export const UNKNOWN = 'unknown';
/** The label value a label takes once its bound of distinct values is reached. */
export const OVERFLOW = 'overflow';

/** tls label: the peer proved a mesh identity over mutual TLS. */
export const TLS_MUTUAL = 'true';
/** tls label: no mesh identity on this hop (plaintext passthrough, an edge client, or no peer reached). */
export const TLS_NO_IDENTITY = 'no_identity';

/** A workload and its namespace, as derived from a SPIFFE identity. */
export interface Workload {
  readonly workload: string;
  readonly namespace: string;
}

const UNKNOWN_WORKLOAD: Workload = Object.freeze({ workload: UNKNOWN, namespace: UNKNOWN });
const SPIFFE = /^spiffe:\/\/[^/]+\/ns\/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\/sa\/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/;

/** The workload (service account) and namespace a SPIFFE identity names; unknown for anything else. */
export function workloadOf(identity: string): Workload {
  const m = SPIFFE.exec(identity);
  if (!m) return UNKNOWN_WORKLOAD;
  return { workload: m[3] ?? UNKNOWN, namespace: m[1] ?? UNKNOWN };
}

/** The tls label of an exchange whose peer identity is `peer` ('' when none was proved). */
export function tlsLabel(peer: string): string {
  return peer === '' ? TLS_NO_IDENTITY : TLS_MUTUAL;
}

/** The grpc_status label: the grpc-status value 0-16 as sent, '' when not gRPC, unknown otherwise. */
export function grpcStatusLabel(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text === '') return '';
  return /^(?:[0-9]|1[0-6])$/.test(text) ? text : UNKNOWN;
}

/** The status_code label: the HTTP status 100-599 sent; "0" when none went out (a tunnel failed). */
export function statusCodeLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : '0';
}

/**
 * Keeps a label's distinct values under a bound: the first `limit` values seen pass, every later
 * one folds into OVERFLOW, so a peer that invents names cannot grow the series without end.
 */
export class BoundedValues {
  readonly #seen = new Set<string>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** `value` itself while it is known or there is room; OVERFLOW after. */
  bound(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#limit) return OVERFLOW;
    this.#seen.add(value);
    return value;
  }
}

/** The default bounds of the label values (docs/metrics.md). */
export const LABEL_BOUNDS = Object.freeze({ services: 200, routes: 200, workloads: 500 });

/**
 * The label values of one process: its own workload, and bounded caches from a peer's identity to
 * its workload and of service and route names. One per process; values are looked up per request
 * through maps, and label objects are built only when a series is new.
 */
export class LabelValues {
  /** The process's own workload (the destination inbound, the source outbound). */
  readonly self: Workload;
  readonly #workloads = new Map<string, Workload>();
  readonly #workloadLimit: number;
  readonly #services: BoundedValues;
  readonly #routes: BoundedValues;

  constructor(selfIdentity: string, bounds: { readonly services: number; readonly routes: number; readonly workloads: number } = LABEL_BOUNDS) {
    this.self = workloadOf(selfIdentity);
    this.#workloadLimit = bounds.workloads;
    this.#services = new BoundedValues(bounds.services);
    this.#routes = new BoundedValues(bounds.routes);
  }

  /** The workload of a peer identity ('' or not SPIFFE: unknown; past the bound: overflow). */
  peer(identity: string): Workload {
    const known = this.#workloads.get(identity);
    if (known !== undefined) return known;
    let w = workloadOf(identity);
    if (this.#workloads.size >= this.#workloadLimit) w = w === UNKNOWN_WORKLOAD ? w : { workload: OVERFLOW, namespace: OVERFLOW };
    else this.#workloads.set(identity, w);
    return w;
  }

  /** The service label ('' -> unknown), bounded. */
  service(name: string): string {
    return name === '' ? UNKNOWN : this.#services.bound(name);
  }

  /** The route label ('' stays '': no route matched), bounded. */
  route(name: string): string {
    return name === '' ? '' : this.#routes.bound(name);
  }
}

/** One request's label values, as the series print them. */
export interface RequestFacts {
  readonly direction: 'inbound' | 'outbound';
  readonly service: string;
  readonly route: string;
  readonly tls: string;
  readonly src: Workload;
  readonly dst: Workload;
}

/** The series key of a request (every label value, so equal keys mean equal label sets). */
export function requestKey(f: RequestFacts): string {
  return `${f.direction}|${f.service}|${f.route}|${f.tls}|${f.src.workload}|${f.src.namespace}|${f.dst.workload}|${f.dst.namespace}`;
}

/** The labels of weft_requests_total for `f` (built once per series). */
export function requestLabels(f: RequestFacts): Record<string, string> {
  return {
    direction: f.direction,
    service: f.service,
    route: f.route,
    tls: f.tls,
    src_workload: f.src.workload,
    src_namespace: f.src.namespace,
    dst_workload: f.dst.workload,
    dst_namespace: f.dst.namespace,
  };
}

/** The labels of weft_responses_total for `f` and its answer (built once per series). */
export function responseLabels(f: RequestFacts, statusCode: string, grpcStatus: string, errorCode: string): Record<string, string> {
  const labels = requestLabels(f);
  labels.status_code = statusCode;
  labels.grpc_status = grpcStatus;
  labels.error_code = errorCode;
  return labels;
}

/** The latency histogram's buckets when WEFT_LATENCY_BUCKETS_SECONDS is not set. */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** A comma-separated list of bucket bounds in seconds: positive, finite, strictly ascending. */
export function bucketList(): SettingType<readonly number[]> {
  return {
    label: 'list of seconds, ascending',
    parse(raw, name) {
      const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (items.length === 0) return new SettingProblem(`${name} must list at least one bucket bound`);
      const out: number[] = [];
      for (const item of items) {
        const n = Number(item);
        if (!/^[0-9.eE+-]+$/.test(item) || !Number.isFinite(n) || n <= 0) return new SettingProblem(`${name}: ${JSON.stringify(item)} is not a positive number of seconds`);
        const last = out[out.length - 1];
        if (last !== undefined && n <= last) return new SettingProblem(`${name}: bounds must ascend, but ${item} follows ${last}`);
        out.push(n);
      }
      return Object.freeze(out);
    },
    format: (v) => v.join(','),
  };
}

/** Buckets of weft_tcp_connection_duration_seconds: connections live from milliseconds to hours. */
export const CONNECTION_DURATION_BUCKETS: readonly number[] = Object.freeze([0.01, 0.1, 1, 10, 60, 300, 1800, 3600]);

/** The metrics settings the proxy and the gateway share. */
export const METRICS_SETTINGS = {
  latencyBuckets: setting({
    name: 'WEFT_LATENCY_BUCKETS_SECONDS',
    type: bucketList(),
    default: DEFAULT_LATENCY_BUCKETS,
    doc: 'upper bounds (seconds, comma-separated, ascending, positive) of the `weft_response_latency_seconds` buckets; see [metrics.md](metrics.md)',
  }),
};
