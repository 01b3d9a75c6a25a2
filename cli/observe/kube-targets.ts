// Which proxies the observing commands read in Kubernetes mode: the meshed pods of a namespace (or
// of all), each read through the API server's pods/proxy subresource, a bounded number at a time
// and each within its own timeout. The choice of pods and their service is a pure function.
import { WeftError } from '../../lib/errors.js';
import { ADMIN_PORT } from '../../lib/ports.js';
import { INJECTED_KEY } from '../../injector/patch.js';
import type { KubeClient } from '../../lib/kube/client.js';
import { getOver, portForward } from './kube-port-forward.js';
import type { Timers } from '../../lib/timers.js';
import type { MeshNames, ProxyTarget } from './targets.js';

/** The parts of a Pod object the choice reads. */
export interface PodObject {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: { readonly containers?: readonly ContainerObject[]; readonly initContainers?: readonly ContainerObject[] };
  readonly status?: { readonly phase?: string };
}

/** The parts of a container the choice reads (the proxy's admin port). */
export interface ContainerObject {
  readonly name?: string;
  readonly ports?: readonly { readonly name?: string; readonly containerPort?: number }[];
}

/** The parts of a Service object the choice reads. */
export interface ServiceObject {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec?: { readonly selector?: Readonly<Record<string, string>> };
}

/** One meshed pod to read. */
export interface KubeTargetSpec {
  readonly namespace: string;
  readonly pod: string;
  /** The service it is shown under (see kubeTargetSpecs). */
  readonly service: string;
  /** Its proxy's admin port. */
  readonly adminPort: number;
}

/** The injector names the proxy container and its admin port so (injector/patch.ts). */
const PROXY_CONTAINER = 'weft-proxy';
const ADMIN_PORT_NAME = 'weft-admin';

/**
 * The meshed pods (those carrying the injector's `weft.dev/injected` annotation and not finished)
 * and the service each is shown under: the first Service of its namespace, by name, whose selector
 * matches its labels; else its `app.kubernetes.io/name` or `app` label; else its own name. With
 * `qualify` (all namespaces) names are `namespace/name`.
 */
export function kubeTargetSpecs(pods: readonly PodObject[], services: readonly ServiceObject[], qualify: boolean): KubeTargetSpec[] {
  const sorted = [...services].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const out: KubeTargetSpec[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name;
    const namespace = pod.metadata?.namespace;
    if (!name || !namespace || pod.metadata?.annotations?.[INJECTED_KEY] === undefined) continue;
    // A finished pod has no proxy left to read; a pending one is listed and reported unreachable.
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    const labels = pod.metadata?.labels ?? {};
    const svc = sorted.find((s) => {
      const selector = Object.entries(s.spec?.selector ?? {});
      return s.metadata?.namespace === namespace && selector.length > 0 && selector.every(([k, v]) => labels[k] === v);
    });
    const service = svc?.metadata?.name ?? labels['app.kubernetes.io/name'] ?? labels['app'] ?? name;
    out.push({ namespace, pod: qualify ? `${namespace}/${name}` : name, service: qualify ? `${namespace}/${service}` : service, adminPort: adminPortOf(pod) });
  }
  return out.sort((a, b) => `${a.namespace} ${a.pod}`.localeCompare(`${b.namespace} ${b.pod}`));
}

function adminPortOf(pod: PodObject): number {
  const proxy = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((c) => c.name === PROXY_CONTAINER);
  const port = proxy?.ports?.find((p) => p.name === ADMIN_PORT_NAME)?.containerPort;
  return typeof port === 'number' && Number.isInteger(port) && port > 0 ? port : ADMIN_PORT;
}

/** How Kubernetes mode reads the proxies. */
export interface KubeTargetOptions {
  /** One namespace, or undefined for all of them. */
  readonly namespace: string | undefined;
  /** Reads through pods/proxy at once, at most (the API server proxies each one). */
  readonly concurrency: number;
  /** A pod whose proxy has not answered within this long is reported unreachable. */
  readonly timeoutMs: number;
  readonly timers: Timers;
}

// The admin routes that answer loopback clients only: read over a port-forward, which arrives on
// the pod's loopback, instead of pods/proxy, which the proxy refuses as relayed.
const LOOPBACK_ONLY = ['/debug/recent-failures', '/debug/tap'];

/** Reads through pods/proxy at once, by default. */
export const KUBE_READ_CONCURRENCY = 8;
/** Per-pod bound on one read, by default: an admin port answers from memory. */
export const KUBE_READ_TIMEOUT_MS = 3000;

/** Lists the meshed pods and their Services, and gives each pod a reader through pods/proxy. */
export async function kubeTargets(client: KubeClient, opts: KubeTargetOptions): Promise<{ names: MeshNames; targets: ProxyTarget[] }> {
  const scope = opts.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(opts.namespace)}`;
  const [pods, services] = await Promise.all([
    client.request<{ items?: PodObject[] }>('GET', `/api/v1${scope}/pods`),
    client.request<{ items?: ServiceObject[] }>('GET', `/api/v1${scope}/services`),
  ]);
  const specs = kubeTargetSpecs(pods.items ?? [], services.items ?? [], opts.namespace === undefined);
  const where = opts.namespace === undefined ? 'any namespace' : `namespace ${opts.namespace}`;
  if (specs.length === 0) throw new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `no meshed pod (annotation ${INJECTED_KEY}) in ${where} (from ${client.connection.source})`);
  const slot = concurrencyLimit(opts.concurrency);
  const targets = specs.map((s): ProxyTarget => {
    const name = s.pod.slice(s.pod.indexOf('/') + 1);
    const label = `pod ${s.namespace}/${name}`;
    const base = `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/pods/${encodeURIComponent(name)}:${s.adminPort}/proxy`;
    const readForwarded = async (path: string): Promise<string> => getOver(await portForward(client.connection, s.namespace, name, s.adminPort, opts.timeoutMs, opts.timers), `${label} port-forward `, path, opts.timeoutMs);
    return {
      pod: s.pod,
      service: s.service,
      admin: `${label} port ${s.adminPort}`,
      read: (path) =>
        slot(() => (LOOPBACK_ONLY.some((p) => path.startsWith(p)) ? readForwarded(path) : client.getText(`${base}${path}`, { timeoutMs: opts.timeoutMs, headersTimeoutMs: opts.timeoutMs, timers: opts.timers }))).catch((err: Error) => {
          throw new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${label} unreachable through the API server: ${err.message}`, { cause: err });
        }),
      connect: () => portForward(client.connection, s.namespace, name, s.adminPort, opts.timeoutMs, opts.timers),
    };
  });
  // Callers in the namespace are named by service account alone; with all namespaces none is.
  return { names: { namespace: opts.namespace ?? '', trustDomain: 'cluster.local' }, targets };
}

/** Runs at most `n` of the functions given at once; the rest wait their turn in order. */
export function concurrencyLimit(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    // A finishing call hands its slot straight to the next in line, so a newcomer cannot slip in.
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
}
