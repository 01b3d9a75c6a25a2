// A healthy weft installation as ClusterFacts (real certificates, every access review allowed,
// two injected ready pods in "shop"), for the unit tests of the pure checks to break one part of.
import { createIssuer, createRoot, type SigningPair } from '../../lib/pki/authority.js';
import { issueServingMaterial, type ServingMaterial } from '../../ca/serving.js';
import { KUBE_ACCESS } from '../../lib/kube/access.js';
import type { AccessReviewFact, ClusterFacts, DeploymentFact, Fetched, PodFact } from '../../check/facts.js';

/** Namespace weft is installed in, as in the e2e test. */
export const NS = 'weft-system';

/** A value that was read. */
export const ok = <T>(value: T): Fetched<T> => ({ ok: true, value });
/** A read that failed; missing is a 404. */
export const failed = (error: string, missing = false): Fetched<never> => ({ ok: false, missing, error });

/** The trust and webhook material a healthy install holds. */
export interface Trust {
  readonly root: SigningPair;
  readonly issuer: SigningPair;
  readonly webhookRoot: SigningPair;
  readonly serving: ServingMaterial;
}

/** Root and issuer made the way `weft ca` makes them, and the webhook's own CA and serving certificate. */
export async function makeTrust(now: Date): Promise<Trust> {
  const root = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: 87_600 });
  const issuer = await createIssuer({ root, trustDomain: 'cluster.local', now, lifetimeHours: 8_760 });
  const webhookRoot = await createRoot({ trustDomain: 'weft-injector-ca', now, lifetimeHours: 87_600 });
  const webhookIssuer = await createIssuer({ root: webhookRoot, trustDomain: 'weft-injector-ca', now, lifetimeHours: 87_000 });
  const serving = await issueServingMaterial({ authority: { root: webhookRoot.cert, issuer: webhookIssuer }, names: [`weft-injector.${NS}.svc`, '127.0.0.1'], now, lifetimeHours: 8_000 });
  return { root, issuer, webhookRoot, serving };
}

/** PEM of a signing pair's certificate. */
export const pem = (p: SigningPair): string => p.cert.toString('pem');

/** A Deployment with every replica ready. */
export const readyDeployment = (replicas = 2): DeploymentFact => ({ desired: replicas, ready: replicas, env: {}, secretVolumes: {} });

/** An injected, running, ready pod of deployment/web carrying the given trust anchors (null: none in its env). */
export function meshedPod(name: string, trustAnchors: string | null, now: Date): PodFact {
  return {
    name, phase: 'Running', owner: 'deployment/web', annotations: { 'weft.dev/injected': 'true' }, labels: { app: 'web' }, hostNetwork: false,
    proxy: { ready: true, restarts: 0 },
    ...(trustAnchors === null ? {} : { proxyTrustAnchors: trustAnchors }),
    certNotAfter: ok(new Date(now.getTime() + 20 * 3_600_000)),
  };
}

/** The pods of the e2e test's "shop" namespace. */
export const POD_NAMES = ['web-7d9f8b6c5-abcde', 'web-7d9f8b6c5-fghij'] as const;

/** Every access review the chart's RBAC answers with allowed for weft-ca, weft-gateway and the proxies of shop. */
export function allowedAccess(): AccessReviewFact[] {
  const out: AccessReviewFact[] = [];
  const subjects = [['weft-ca', 'ca'], ['weft-destination', 'destination'], ['weft-gateway', 'gateway']] as const;
  for (const [subject, component] of subjects) {
    for (const row of KUBE_ACCESS.filter((r) => r.component === component && r.scope !== 'gateway-tls')) {
      for (const verb of row.verbs) out.push({ subject, row, verb, ...(row.scope === 'release' ? { namespace: NS } : {}), allowed: true });
    }
  }
  return out;
}

/** ClusterFacts of a healthy install, as gather would read them at `now`. */
export function healthyFacts(trust: Trust, now: Date): ClusterFacts {
  return {
    weftNamespace: NS,
    server: 'https://127.0.0.1:6443',
    version: ok({ gitVersion: 'v1.31.0', major: 1, minor: 31 }),
    access: ok(allowedAccess()),
    ca: ok(readyDeployment()),
    injector: ok(readyDeployment()),
    gateway: ok(readyDeployment()),
    trustAnchors: ok(pem(trust.root)),
    issuer: ok({ secret: 'weft-ca-issuer', certPem: pem(trust.issuer) }),
    webhook: {
      config: ok([{ name: 'inject.weft.dev', failurePolicy: 'Fail', service: { name: 'weft-injector', namespace: NS, path: '/inject' }, caBundlePem: pem(trust.webhookRoot) }]),
      serving: ok({ chainPem: trust.serving.certChainPem, source: `the Secret ${NS}/weft-injector-tls` }),
      readyEndpoints: ok(2),
    },
    namespaces: ok([{ name: 'shop', pods: POD_NAMES.map((n) => meshedPod(n, pem(trust.root), now)) }]),
  };
}
