// The shell of `weft check`: reads what the checks need from the API server (and, when asked, from
// the injector itself) into ClusterFacts. No judgement here; check/checks.ts decides.
import { request as httpsRequest } from 'node:https';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import { KubeApiError, type KubeClient } from '../lib/kube/client.js';
import type { KubeConnection } from '../lib/kube/config.js';
import { COMPONENT_SERVICE_ACCOUNTS, KUBE_ACCESS, type KubeAccess } from '../lib/kube/access.js';
import { DISCOVERY_KINDS, GATEWAY_ROUTE_KINDS } from '../lib/kube/kinds.js';
import type { AccessReviewFact, ClusterFacts, KindFact, DeploymentFact, Fetched, NamespaceFact, PodFact, ServingCertFact, VersionFact, WebhookEntryFact } from './facts.js';
import type { AuthorizationFacts } from './facts.js';

/** What to look at. */
export interface GatherOptions {
  /** Namespace weft is installed in. */
  readonly namespace: string;
  /** Reach the injector directly (for example through kubectl port-forward) to check its live certificate. */
  readonly injectorUrl?: string;
  /** The proxies' admin port, where /metrics is. */
  readonly proxyAdminPort: number;
  /** Pods whose proxy certificate is read, at most, per namespace (each is one request). */
  readonly maxCertReadsPerNamespace: number;
}

type Json = Record<string, unknown>;

async function fetched<T>(what: string, fn: () => Promise<T>): Promise<Fetched<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    const missing = err instanceof KubeApiError && err.apiStatus === 404;
    return { ok: false, missing, error: missing ? `${what} not found` : (err as Error).message };
  }
}

const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);
const strMap = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(obj(v)).filter((e): e is [string, string] => typeof e[1] === 'string'));
// A scalar as text; anything else (an object where a string belongs) reads as the fallback rather
// than as "[object Object]".
const text = (v: unknown, fallback = ''): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : fallback;
const b64 = (v: unknown): string => (typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : '');

/** Reads everything `weft check` judges. */
export async function gatherFacts(client: KubeClient, opts: GatherOptions): Promise<ClusterFacts> {
  const ns = opts.namespace;
  const nsPath = `/api/v1/namespaces/${encodeURIComponent(ns)}`;
  const version = await fetched<VersionFact>('/version', async () => {
    const v = await client.request<Json>('GET', '/version');
    const gitVersion = text(v.gitVersion);
    const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
    return { gitVersion, major: Number(m?.[1] ?? v.major ?? 0), minor: Number(m?.[2] ?? text(v.minor, '0').replace(/\D/g, '')) };
  });
  const unreachable = { ok: false as const, missing: false, error: 'the API server is unreachable' };
  if (!version.ok) {
    return {
      weftNamespace: ns, server: client.connection.server, version, access: unreachable, ca: unreachable, injector: unreachable, gateway: unreachable,
      trustAnchors: unreachable, issuer: unreachable, webhook: { config: unreachable, serving: unreachable, readyEndpoints: unreachable }, namespaces: unreachable,
    };
  }

  const deployment = (name: string): Promise<Fetched<DeploymentFact>> =>
    fetched(`Deployment ${ns}/${name}`, async () => {
      const d = await client.request<Json>('GET', `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments/${name}`);
      const spec = obj(d.spec);
      const pod = obj(obj(spec.template).spec);
      const container = arr(pod.containers)[0] ?? {};
      const env = Object.fromEntries(arr(container.env).filter((e) => typeof e.value === 'string').map((e) => [String(e.name), String(e.value)]));
      const secretVolumes = Object.fromEntries(arr(pod.volumes).filter((v) => obj(v.secret).secretName).map((v) => [String(v.name), String(obj(v.secret).secretName)]));
      return { desired: typeof spec.replicas === 'number' ? spec.replicas : 1, ready: Number(obj(d.status).readyReplicas ?? 0), env, secretVolumes };
    });
  const [ca, injector, gateway] = await Promise.all([deployment('weft-ca'), deployment('weft-injector'), deployment('weft-gateway')]);

  const trustAnchors = await fetched('ConfigMap weft-trust-anchors', async () => {
    const cm = await client.request<Json>('GET', `${nsPath}/configmaps/weft-trust-anchors`);
    return text(obj(cm.data)['roots.pem']);
  });
  const issuerSecret = (ca.ok ? ca.value.env['WEFT_CA_SECRET'] : undefined) ?? 'weft-ca-issuer';
  const issuer = await fetched(`Secret ${ns}/${issuerSecret}`, async () => {
    const s = await client.request<Json>('GET', `${nsPath}/secrets/${encodeURIComponent(issuerSecret)}`);
    return { secret: issuerSecret, certPem: b64(obj(s.data)['tls.crt']) };
  });

  const config = await fetched<readonly WebhookEntryFact[]>('MutatingWebhookConfiguration weft-injector', async () => {
    const m = await client.request<Json>('GET', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/weft-injector');
    return arr(m.webhooks).map((w) => {
      const cc = obj(w.clientConfig);
      const svc = obj(cc.service);
      return {
        name: text(w.name),
        failurePolicy: text(w.failurePolicy, 'Fail'),
        ...(svc.name ? { service: { name: text(svc.name), namespace: text(svc.namespace), ...(svc.path ? { path: text(svc.path) } : {}) } } : {}),
        caBundlePem: b64(cc.caBundle),
      };
    });
  });
  const caBundlePem = config.ok ? (config.value[0]?.caBundlePem ?? '') : '';
  let serving: Fetched<ServingCertFact>;
  let probe: { url: string; ok: boolean; error?: string } | undefined;
  if (opts.injectorUrl) {
    serving = await fetched('the injector', async () => ({ chainPem: await peerChainPem(opts.injectorUrl as string, `weft-injector.${ns}.svc`), source: `${opts.injectorUrl} (live)` }));
    probe = await probeInjector(opts.injectorUrl, caBundlePem, `weft-injector.${ns}.svc`);
  } else {
    // Provider injector: no volume; the injector keeps its pair in the Secret it updates.
    const selfTls = injector.ok && injector.value.env['WEFT_INJECTOR_TLS_PROVIDER'] === 'self';
    const secret = selfTls ? (injector.value.env['WEFT_INJECTOR_TLS_SECRET'] ?? 'weft-injector-self-tls') : ((injector.ok ? injector.value.secretVolumes['tls'] : undefined) ?? 'weft-injector-tls');
    serving = await fetched(`Secret ${ns}/${secret}`, async () => {
      const s = await client.request<Json>('GET', `${nsPath}/secrets/${encodeURIComponent(secret)}`);
      return { chainPem: b64(obj(s.data)['tls.crt']), source: `the Secret ${ns}/${secret}` };
    });
  }
  const readyEndpoints = await fetched('EndpointSlices of weft-injector', async () => {
    const list = await client.request<Json>('GET', `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/endpointslices?labelSelector=${encodeURIComponent('kubernetes.io/service-name=weft-injector')}`);
    return arr(list.items).flatMap((s) => arr(s.endpoints)).filter((e) => obj(e.conditions).ready !== false).length;
  });

  const namespaces = await fetched<readonly NamespaceFact[]>('labelled namespaces', async () => {
    const list = await client.request<Json>('GET', `/api/v1/namespaces?labelSelector=${encodeURIComponent('weft.dev/inject=enabled')}`);
    const out: NamespaceFact[] = [];
    for (const n of arr(list.items)) {
      const name = text(obj(n.metadata).name);
      const pods = await client.request<Json>('GET', `/api/v1/namespaces/${encodeURIComponent(name)}/pods`);
      let reads = 0;
      const facts: PodFact[] = [];
      for (const p of arr(pods.items)) {
        const fact = podFact(p);
        if (fact.proxy?.ready && fact.phase === 'Running' && reads < opts.maxCertReadsPerNamespace) {
          reads++;
          facts.push({ ...fact, certNotAfter: await fetched('proxy metrics', () => proxyCertExpiry(client.connection, name, fact.name, opts.proxyAdminPort)) });
        } else facts.push(fact);
      }
      out.push({ name, pods: facts });
    }
    return out;
  });

  const access = await accessReviews(client, ns, ca, gateway, injector);
  const apiKinds = await fetched('API discovery', () => servedKinds(client));
  const authorization = await fetched('the AuthorizationPolicy CRD', () => authorizationFacts(client, namespaces));
  return {
    weftNamespace: ns, server: client.connection.server, version, access, ca, injector, gateway, trustAnchors, issuer,
    webhook: { config, serving, readyEndpoints, ...(probe ? { probe } : {}) }, namespaces, apiKinds, authorization,
  };
}

/** Which of the kinds weft reads the API server's discovery lists, one request per group version. */
async function servedKinds(client: KubeClient): Promise<KindFact[]> {
  const kinds = [...DISCOVERY_KINDS, ...GATEWAY_ROUTE_KINDS];
  const served = new Map<string, Set<string>>();
  for (const gv of new Set(kinds.map((k) => (k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`)))) {
    try {
      const list = await client.request<Json>('GET', gv);
      served.set(gv, new Set(arr(list.resources).map((r) => text(r.name))));
    } catch (err) {
      // A group version the server does not know answers 404: none of its kinds is served.
      if (!(err instanceof KubeApiError && err.apiStatus === 404)) throw err;
      served.set(gv, new Set());
    }
  }
  return kinds.map((k) => ({ ...k, served: served.get(k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`)?.has(k.resource) === true }));
}

function podFact(p: Json): PodFact {
  const md = obj(p.metadata);
  const spec = obj(p.spec);
  const status = obj(p.status);
  const owner = arr(md.ownerReferences).find((o) => o.controller === true);
  // A ReplicaSet's name is its Deployment's plus a hash: restart the Deployment.
  const ownerName = owner
    ? owner.kind === 'ReplicaSet'
      ? `deployment/${String(owner.name).replace(/-[a-z0-9]{5,10}$/, '')}`
      : `${String(owner.kind).toLowerCase()}/${String(owner.name)}`
    : undefined;
  const containers = [...arr(spec.initContainers), ...arr(spec.containers)];
  const proxySpec = containers.find((c) => c.name === 'weft-proxy');
  const hasProxy = proxySpec !== undefined;
  const anchors = arr(proxySpec?.env).find((e) => e.name === 'WEFT_TRUST_ANCHORS')?.value;
  const statuses = [...arr(status.initContainerStatuses), ...arr(status.containerStatuses)];
  const ps = statuses.find((s) => s.name === 'weft-proxy');
  return {
    name: text(md.name),
    phase: text(status.phase, 'Pending'),
    ...(ownerName ? { owner: ownerName } : {}),
    annotations: strMap(md.annotations),
    labels: strMap(md.labels),
    hostNetwork: spec.hostNetwork === true,
    ...(hasProxy ? { proxy: { ready: ps?.ready === true, restarts: Number(ps?.restartCount ?? 0) } } : {}),
    ...(typeof anchors === 'string' ? { proxyTrustAnchors: anchors } : {}),
  };
}

async function accessReviews(
  client: KubeClient,
  ns: string,
  ca: Fetched<DeploymentFact>,
  gateway: Fetched<DeploymentFact>,
  injector: Fetched<DeploymentFact>,
): Promise<Fetched<readonly AccessReviewFact[]>> {
  const injectorSelfTls = injector.ok && injector.value.env['WEFT_INJECTOR_TLS_PROVIDER'] === 'self';
  const generated = !ca.ok || ca.value.env['WEFT_CA_GENERATE'] !== 'false';
  const caSecret = (ca.ok ? ca.value.env['WEFT_CA_SECRET'] : undefined) ?? 'weft-ca-issuer';
  const tlsSecrets = (gateway.ok ? (gateway.value.env['WEFT_GATEWAY_TLS_SECRETS'] ?? '') : '').split(',').filter((s) => s.includes('/'));
  const asks: { subject: string; user: string; groups: string[]; row: KubeAccess; verb: string; namespace?: string; name?: string }[] = [];
  const subjects: { subject: string; component: KubeAccess['component']; user: string; groups: string[] }[] = [
    { subject: COMPONENT_SERVICE_ACCOUNTS.ca, component: 'ca', user: `system:serviceaccount:${ns}:weft-ca`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] },
    {
      subject: COMPONENT_SERVICE_ACCOUNTS.destination,
      component: 'destination',
      user: `system:serviceaccount:${ns}:weft-destination`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
    },
  ];
  if (gateway.ok) {
    subjects.push({ subject: COMPONENT_SERVICE_ACCOUNTS.gateway, component: 'gateway', user: `system:serviceaccount:${ns}:weft-gateway`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] });
  }
  // The injector calls the API only when it makes its own webhook certificate.
  if (injectorSelfTls) {
    subjects.push({ subject: COMPONENT_SERVICE_ACCOUNTS.injector, component: 'injector', user: `system:serviceaccount:${ns}:weft-injector`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'] });
  }
  for (const s of subjects) {
    for (const row of KUBE_ACCESS.filter((r) => r.component === s.component && (!r.generatedTrustOnly || generated) && (!r.injectorSelfTlsOnly || injectorSelfTls))) {
      const places: { namespace?: string; name?: string }[] =
        row.scope === 'gateway-tls'
          ? tlsSecrets.map((t) => ({ namespace: t.split('/')[0] as string, name: t.split('/')[1] as string }))
          : (row.names ?? [undefined]).map((n) => ({
              ...(row.scope === 'release' ? { namespace: ns } : {}),
              ...(n === undefined ? {} : { name: n === '<ca-secret>' ? caSecret : n }),
            }));
      for (const p of places) for (const verb of row.verbs) asks.push({ subject: s.subject, user: s.user, groups: s.groups, row, verb, ...p });
    }
  }
  return fetched('SubjectAccessReviews', async () => {
    const review = async (a: (typeof asks)[number]): Promise<AccessReviewFact> => {
      let answer: Json;
      try {
        answer = await client.request<Json>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: a.user,
            groups: a.groups,
            resourceAttributes: { verb: a.verb, group: a.row.group, ...subresourceOf(a.row.resource), ...(a.namespace ? { namespace: a.namespace } : {}), ...(a.name ? { name: a.name } : {}) },
          },
        });
      } catch (err) {
        if (err instanceof KubeApiError && err.apiStatus === 403) throw new Error('weft check may not create subjectaccessreviews.authorization.k8s.io', { cause: err });
        throw err;
      }
      return { subject: a.subject, row: a.row, verb: a.verb, ...(a.namespace ? { namespace: a.namespace } : {}), ...(a.name ? { name: a.name } : {}), allowed: obj(answer.status).allowed === true };
    };
    // A few at a time: dozens of small reviews, without flooding the API server.
    const out: AccessReviewFact[] = [];
    for (let i = 0; i < asks.length; i += REVIEW_CONCURRENCY) out.push(...(await Promise.all(asks.slice(i, i + REVIEW_CONCURRENCY).map(review))));
    return out;
  });
}

/** SubjectAccessReviews sent at once. */
const REVIEW_CONCURRENCY = 8;

/** GET through the API server's pods/proxy to the proxy's /metrics; the certificate expiry gauge. */
async function proxyCertExpiry(conn: KubeConnection, namespace: string, pod: string, port: number): Promise<Date> {
  const text = await getText(conn, `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${port}/proxy/metrics`);
  const m = /^weft_certificate_expiry_timestamp_seconds(?:\{[^}]*\})?\s+([0-9.e+]+)\s*$/m.exec(text);
  if (!m) throw new Error('no weft_certificate_expiry_timestamp_seconds in /metrics');
  return new Date(Number(m[1]) * 1000);
}

async function getText(conn: KubeConnection, path: string): Promise<string> {
  const auth = await conn.authorization();
  const url = new URL(path, conn.server);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      ...(conn.caPem ? { ca: conn.caPem } : {}),
      ...(conn.clientCertPem ? { cert: conn.clientCertPem } : {}),
      ...(conn.clientKeyPem ? { key: conn.clientKeyPem } : {}),
      ...(conn.serverName ? { servername: conn.serverName } : {}),
      rejectUnauthorized: !conn.skipTlsVerify,
      headers: { Accept: 'text/plain', ...(auth ? { Authorization: auth } : {}) },
      timeout: 5000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${res.statusCode}: ${body.slice(0, 200)}`));
        else resolve(body);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5000 ms')));
    req.on('error', reject);
    req.end();
  });
}

/** The certificate chain a TLS server presents, as PEM (not verified: the checks judge it). */
function peerChainPem(url: string, servername: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 443), servername, rejectUnauthorized: false, timeout: 5000 }, () => {
      const pems: string[] = [];
      let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      while (c && c.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        pems.push(`-----BEGIN CERTIFICATE-----\n${c.raw.toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END CERTIFICATE-----\n`);
        c = c.issuerCertificate;
      }
      socket.end();
      resolve(pems.join(''));
    });
    socket.on('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

/** GET /ready over TLS verified the way the API server verifies the webhook: caBundle and service name. */
function probeInjector(url: string, caBundlePem: string, servername: string): Promise<{ url: string; ok: boolean; error?: string }> {
  return new Promise((resolve) => {
    const req = httpsRequest(new URL('/ready', url), { ca: caBundlePem || undefined, servername, timeout: 5000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? { url, ok: true } : { url, ok: false, error: `GET /ready answered ${res.statusCode}` });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5000 ms')));
    req.on('error', (err) => resolve({ url, ok: false, error: err.message }));
    req.end();
  });
}

// Every AuthorizationPolicy, and the meshed pods (those running weft-proxy) of their namespaces:
// the labelled namespaces' pods are already read; a policy elsewhere costs one pod list.
async function authorizationFacts(client: KubeClient, namespaces: Fetched<readonly NamespaceFact[]>): Promise<AuthorizationFacts> {
  const list = await client.request<Json>('GET', '/apis/policy.weft.dev/v1alpha1/authorizationpolicies');
  const policies = arr(list.items);
  const meshedPods: Record<string, { name: string; labels: Record<string, string> }[]> = {};
  for (const n of namespaces.ok ? namespaces.value : []) meshedPods[n.name] = n.pods.filter((p) => p.proxy).map((p) => ({ name: p.name, labels: { ...p.labels } }));
  for (const p of policies) {
    const name = text(obj(p.metadata).namespace);
    if (name === '' || meshedPods[name]) continue;
    const pods = await client.request<Json>('GET', `/api/v1/namespaces/${encodeURIComponent(name)}/pods`);
    meshedPods[name] = arr(pods.items).map(podFact).filter((f) => f.proxy).map((f) => ({ name: f.name, labels: { ...f.labels } }));
  }
  return { policies, meshedPods };
}

// A row's "gateways/status" is resource "gateways", subresource "status" in a SubjectAccessReview.
function subresourceOf(resource: string): { resource: string; subresource?: string } {
  const [main = resource, sub] = resource.split('/');
  return sub === undefined ? { resource: main } : { resource: main, subresource: sub };
}
