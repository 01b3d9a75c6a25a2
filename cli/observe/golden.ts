// The golden metrics (pure): from the proxies' scraped samples, per service and per edge, the
// requests, success rate, rate, latency percentiles and share of mTLS. Services are judged where
// their requests arrive (each pod's inbound side); an edge is caller identity -> service, so
// callers without a sidecar (the gateway) show up too.
import { isFailure } from '../../proxy/tap/failure.js';
import type { Sample } from './prom-text.js';
import type { MeshNames, ProxyTarget } from './targets.js';

/** One proxy's samples. */
export interface Scrape {
  readonly target: ProxyTarget;
  readonly samples: readonly Sample[];
}

/** Golden metrics of a service or an edge. */
export interface Golden {
  readonly requests: number;
  readonly failures: number;
  /** Share of requests that did not fail (0..1); null with no requests. */
  readonly successRate: number | null;
  /** Requests per second over the window; null when there is no window (totals since start). */
  readonly rps: number | null;
  /** Latency percentiles in ms (services only; the histogram has no caller label); null with no data. */
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
  /** Share of requests whose caller was verified by mutual TLS (0..1); null with no requests. */
  readonly mtlsShare: number | null;
}

/** A service's row. */
export interface ServiceStat extends Golden {
  readonly service: string;
  /** Pods whose proxy answered. */
  readonly pods: number;
}

/** An edge's row: caller -> service. */
export interface EdgeStat extends Golden {
  readonly from: string;
  readonly to: string;
}

/** What `weft stat` shows and `weft dashboard` draws. */
export interface MeshStat {
  readonly windowSeconds: number;
  readonly services: readonly ServiceStat[];
  readonly edges: readonly EdgeStat[];
}

interface Acc {
  requests: number;
  failures: number;
  mtls: number;
  buckets: Map<number, number>;
}

const newAcc = (): Acc => ({ requests: 0, failures: 0, mtls: 0, buckets: new Map() });

/**
 * Golden metrics from `now`, minus `before` when given (the same proxies scraped `windowSeconds`
 * earlier): rates and percentiles then cover the window only.
 */
export function goldenMetrics(names: MeshNames, now: readonly Scrape[], before: readonly Scrape[] | undefined, windowSeconds: number): MeshStat {
  const services = new Map<string, Acc>();
  const pods = new Map<string, number>();
  const edges = new Map<string, Acc>();
  const sign = (scrapes: readonly Scrape[], s: number): void => {
    for (const scrape of scrapes) {
      const service = scrape.target.service;
      for (const sample of scrape.samples) {
        if (sample.labels.direction !== 'inbound') continue;
        if (sample.name === 'weft_responses_total') {
          const grpc = sample.labels.grpc_status ?? '';
          // A gRPC call answered with a status other than OK failed, whatever its HTTP status.
          const failed = isFailure(Number(sample.labels.status_code ?? 0), sample.labels.error_code ?? '') || (grpc !== '' && grpc !== '0');
          const from = callerName(names, sample.labels.src_workload ?? 'unknown', sample.labels.src_namespace ?? 'unknown');
          for (const acc of [getOr(services, service), getOr(edges, `${from}\u0000${service}`)]) {
            acc.requests += s * sample.value;
            if (failed) acc.failures += s * sample.value;
            if (sample.labels.tls === 'true') acc.mtls += s * sample.value;
          }
        } else if (sample.name === 'weft_response_latency_seconds_bucket') {
          const le = sample.labels.le === '+Inf' ? Infinity : Number(sample.labels.le);
          const acc = getOr(services, service);
          acc.buckets.set(le, (acc.buckets.get(le) ?? 0) + s * sample.value);
        }
      }
    }
  };
  sign(now, 1);
  if (before) sign(before, -1);
  for (const scrape of now) pods.set(scrape.target.service, (pods.get(scrape.target.service) ?? 0) + 1);
  const rate = before && windowSeconds > 0 ? windowSeconds : 0;
  return {
    windowSeconds: rate,
    services: [...services].filter(([, a]) => a.requests > 0).map(([service, a]) => ({ service, pods: pods.get(service) ?? 0, ...golden(a, rate, true) })).sort((x, y) => x.service.localeCompare(y.service)),
    edges: [...edges]
      .filter(([, a]) => a.requests > 0)
      .map(([key, a]) => {
        const [from = '', to = ''] = key.split('\u0000');
        return { from, to, ...golden(a, rate, false) };
      })
      .sort((x, y) => `${x.from} ${x.to}`.localeCompare(`${y.from} ${y.to}`)),
  };
}

/** The percentile `q` (0..1) of a cumulative histogram, interpolated inside its bucket as Prometheus does. */
export function histogramQuantile(q: number, buckets: ReadonlyMap<number, number>): number | null {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      // The +Inf bucket has no upper bound: answer its lower one.
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-12);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function golden(a: Acc, windowSeconds: number, latency: boolean): Golden {
  const ms = (q: number): number | null => {
    if (!latency) return null;
    const s = histogramQuantile(q, a.buckets);
    return s === null ? null : Math.round(s * 1e6) / 1e3;
  };
  return {
    requests: a.requests,
    failures: a.failures,
    successRate: a.requests > 0 ? (a.requests - a.failures) / a.requests : null,
    rps: windowSeconds > 0 ? a.requests / windowSeconds : null,
    p50Ms: ms(0.5),
    p95Ms: ms(0.95),
    p99Ms: ms(0.99),
    mtlsShare: a.requests > 0 ? a.mtls / a.requests : null,
  };
}

// A caller by its workload (service account): "client", or "other-ns/sa" from another namespace.
function callerName(names: MeshNames, workload: string, namespace: string): string {
  if (workload === 'unknown') return 'unknown';
  return namespace === names.namespace ? workload : `${namespace}/${workload}`;
}

function getOr(map: Map<string, Acc>, key: string): Acc {
  let acc = map.get(key);
  if (!acc) {
    acc = newAcc();
    map.set(key, acc);
  }
  return acc;
}
