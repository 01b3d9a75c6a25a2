// Where the observing commands find the proxies they read: a local mesh file (`weft up`), or in
// Kubernetes mode (--kubeconfig, -n, -A) the cluster's meshed pods, read through the API server.
import { KubeClient } from '../../lib/kube/client.js';
import { kubeConnectionFromEnv } from '../../lib/kube/config.js';
import type { Timers } from '../../lib/timers.js';
import type { ObserveArgs } from './args.js';
import { KUBE_READ_CONCURRENCY, KUBE_READ_TIMEOUT_MS, kubeTargets } from './kube-targets.js';
import { meshTargets, type MeshNames, type ProxyTarget } from './targets.js';

/** The proxies to read, and what to release when done. */
export interface ObserveSource {
  readonly names: MeshNames;
  readonly targets: readonly ProxyTarget[];
  /** True in a cluster: a proxy that cannot be read is reported and the others are read (a local mesh is all or none for taps). */
  readonly partial: boolean;
  /** What was read, for messages: the mesh file or the namespace. */
  readonly where: string;
  /** Releases the API client's sockets (a no-op for a mesh file). */
  close(): void;
}

/** The proxies of the mesh file, or of the cluster in Kubernetes mode. */
export async function observeSource(args: ObserveArgs, env: Readonly<Record<string, string | undefined>>, timers: Timers): Promise<ObserveSource> {
  if (!args.kube) {
    const { names, targets } = await meshTargets(args.file);
    return { names, targets, partial: false, where: args.file, close: () => {} };
  }
  // --kubeconfig FILE is KUBECONFIG=FILE for this command alone.
  const conn = await kubeConnectionFromEnv(args.kubeconfig === '' ? env : { ...env, KUBECONFIG: args.kubeconfig });
  const namespace = args.allNamespaces ? undefined : args.namespace || conn.namespace;
  const client = new KubeClient(conn);
  try {
    const { names, targets } = await kubeTargets(client, { namespace, concurrency: KUBE_READ_CONCURRENCY, timeoutMs: KUBE_READ_TIMEOUT_MS, timers });
    return { names, targets, partial: true, where: namespace === undefined ? 'all namespaces' : `namespace ${namespace}`, close: () => client.close() };
  } catch (err) {
    client.close();
    throw err;
  }
}
