// Where a weft process finds its cluster: KUBECONFIG when set, else the in-cluster service account
// (token file, CA file, KUBERNETES_SERVICE_HOST/PORT). Every weft process builds its API client here.
import { readFile } from 'node:fs/promises';
import type { RequestOptions } from 'node:https';
import { WeftError } from '../errors.js';

/** Where the in-cluster service account is mounted. */
export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How to reach and authenticate to one API server. */
export interface KubeConnection {
  /** https://host:port (no trailing slash). */
  readonly server: string;
  /** Trust anchors for the API server's certificate (undefined: the system roots). */
  readonly caPem: string | undefined;
  /** Client certificate and key, when the kubeconfig user has them. */
  readonly clientCertPem: string | undefined;
  readonly clientKeyPem: string | undefined;
  /** TLS server name override (kubeconfig tls-server-name). */
  readonly serverName: string | undefined;
  /** kubeconfig insecure-skip-tls-verify. */
  readonly skipTlsVerify: boolean;
  /** The namespace of the context or of the pod; 'default' when neither says. */
  readonly namespace: string;
  /** Returns the Authorization header value for the next request (tokens rotate). */
  authorization(): Promise<string | undefined>;
  /** Where this came from, for logs: "in-cluster" or the kubeconfig path. */
  readonly source: string;
}

/** How long an in-cluster token file is trusted before it is read again (the kubelet rotates it). */
export const TOKEN_REREAD_MS = 60_000;

/**
 * Picks the connection from the environment: KUBECONFIG (first existing file of the list) wins,
 * else in-cluster. Throws WEFT_ERR_KUBE_CONFIG naming what is missing.
 */
export async function kubeConnectionFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  opts: { inClusterDir?: string; now?: () => number } = {},
): Promise<KubeConnection> {
  const kubeconfig = env['KUBECONFIG']?.trim();
  if (kubeconfig) {
    const files = kubeconfig.split(':').filter((f) => f !== '');
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        continue;
      }
      return fromKubeconfigText(text, file);
    }
    throw new WeftError('WEFT_ERR_KUBE_CONFIG', `KUBECONFIG=${kubeconfig}: no readable kubeconfig file`);
  }
  const host = env['KUBERNETES_SERVICE_HOST']?.trim();
  const port = env['KUBERNETES_SERVICE_PORT']?.trim();
  if (!host || !port) {
    throw new WeftError(
      'WEFT_ERR_KUBE_CONFIG',
      'no cluster configured: set KUBECONFIG, or run in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT)',
    );
  }
  return inCluster(host, port, opts.inClusterDir ?? IN_CLUSTER_DIR, opts.now ?? Date.now);
}

async function inCluster(host: string, port: string, dir: string, now: () => number): Promise<KubeConnection> {
  const read = async (file: string, required: boolean): Promise<string | undefined> => {
    try {
      return await readFile(`${dir}/${file}`, 'utf8');
    } catch (err) {
      if (!required) return undefined;
      throw new WeftError('WEFT_ERR_KUBE_CONFIG', `in-cluster config: cannot read ${dir}/${file}: ${(err as Error).message}`);
    }
  };
  const caPem = await read('ca.crt', true);
  let token = (await read('token', true))?.trim() ?? '';
  let readAt = now();
  const namespace = (await read('namespace', false))?.trim() || 'default';
  // IPv6 hosts need brackets in a URL.
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    server,
    caPem,
    clientCertPem: undefined,
    clientKeyPem: undefined,
    serverName: undefined,
    skipTlsVerify: false,
    namespace,
    source: 'in-cluster',
    async authorization() {
      if (now() - readAt > TOKEN_REREAD_MS) {
        // A failed re-read keeps the old token: it is still valid for a while after rotation.
        const fresh = (await read('token', false))?.trim();
        if (fresh) token = fresh;
        readAt = now();
      }
      return `Bearer ${token}`;
    },
  };
}

/** Builds a connection from kubeconfig YAML with @kubernetes/client-node's loader. */
export async function fromKubeconfigText(text: string, source: string): Promise<KubeConnection> {
  // Loaded only for a kubeconfig: the package adds ~60 MB of RSS to a process, and pods (in-cluster
  // config) never need it.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new WeftError('WEFT_ERR_KUBE_CONFIG', `${source}: not a valid kubeconfig: ${(err as Error).message}`, { cause: err });
  }
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster) throw new WeftError('WEFT_ERR_KUBE_CONFIG', `${source}: the current context names no cluster`);
  if (!/^https?:\/\//.test(cluster.server)) {
    throw new WeftError('WEFT_ERR_KUBE_CONFIG', `${source}: cluster server ${JSON.stringify(cluster.server)} is not an http(s) URL`);
  }
  const opts: RequestOptions = {};
  try {
    await kc.applyToHTTPSOptions(opts);
  } catch (err) {
    throw new WeftError('WEFT_ERR_KUBE_CONFIG', `${source}: cannot load credentials: ${(err as Error).message}`, { cause: err });
  }
  const text_ = (v: unknown): string | undefined =>
    v === undefined || v === null ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'string' ? v : undefined;
  const context = kc.getContextObject(kc.getCurrentContext());
  const staticToken = user?.token;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    caPem: text_(opts.ca),
    clientCertPem: text_(opts.cert),
    clientKeyPem: text_(opts.key),
    serverName: cluster.tlsServerName,
    skipTlsVerify: cluster.skipTLSVerify === true,
    namespace: context?.namespace ?? 'default',
    source,
    async authorization() {
      if (staticToken) return `Bearer ${staticToken}`;
      // exec plugins and auth providers refresh their own tokens; ask each time.
      const fresh: RequestOptions = {};
      await kc.applyToHTTPSOptions(fresh);
      const headers = (fresh.headers ?? {}) as Record<string, unknown>;
      const header = headers['Authorization'] ?? headers['authorization'];
      if (typeof header === 'string') return header;
      if (fresh.auth) return `Basic ${Buffer.from(fresh.auth).toString('base64')}`;
      return undefined;
    },
  };
}
