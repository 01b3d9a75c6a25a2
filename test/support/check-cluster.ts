// A healthy weft installation inside a TestApiServer, for `weft check` tests: the rendered chart
// (its real RBAC evaluated by the RBAC authorizer), what `weft ca` writes on first start, the
// injector's endpoints, and a labelled namespace "shop" with injected pods.
import { CHART_RESOURCES, rbacAuthorizer } from './rbac-authorizer.js';
import { GATEWAY_ROUTE_KINDS } from '../../lib/kube/kinds.js';
import { helmTemplate, type Doc } from '../unit/charts/helm.js';
import { NS, pem, type Trust } from './cluster-facts.js';
import type { KubeObject, TestApiServer } from './test-apiserver.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A meshed pod of "shop" and the address its (real or stand-in) proxy admin port listens on. */
export interface CheckPod {
  readonly name: string;
  readonly address: string;
}

/** The chart rendered by the real Helm, once per process: the same for every case. */
let rendered: readonly Doc[] | undefined;

/** Fills the API server with a healthy weft installation whose trust is `trust`. */
export function installHealthyWeft(api: TestApiServer, trust: Trust, pods: readonly CheckPod[]): void {
  // The gateway on (off by default), so its checks have something to judge; the CRD objects left
  // out, since their kinds are added below (the test API server serves no CustomResourceDefinition).
  rendered ??= helmTemplate({ gateway: { enabled: true }, crds: { install: false } }, { namespace: NS }).docs;
  for (const def of CHART_RESOURCES) api.addResource(def);
  // The Gateway API standard channel (ReferenceGrant v1beta1) and weft's policy CRDs are installed.
  for (const k of GATEWAY_ROUTE_KINDS.filter((x) => x.group === 'weft.dev' || x.resource === 'referencegrants')) {
    api.addResource({ group: k.group, version: k.version, resource: k.resource, singular: k.kind.toLowerCase(), kind: k.kind, namespaced: true });
  }
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS }, status: { phase: 'Active' } });
  const { serving, webhookRoot, root, issuer } = trust;
  const webhookSecret = { data: { 'tls.crt': b64(serving.certChainPem), 'tls.key': b64(serving.keyPem), 'ca.crt': b64(pem(webhookRoot)) } };
  // An upgrade: the chart reuses the webhook Secret it finds (Helm's lookup), so the Secret and the
  // caBundle are this trust's, not the pair `helm template` generated.
  for (const doc of structuredClone(rendered) as KubeObject[]) {
    if (doc.kind === 'Secret' && doc.metadata.name === 'weft-injector-tls') doc['data'] = webhookSecret.data;
    if (doc.kind === 'MutatingWebhookConfiguration') {
      for (const hook of (doc['webhooks'] as { clientConfig: { caBundle?: string } }[] | undefined) ?? []) hook.clientConfig.caBundle = webhookSecret.data['ca.crt'];
    }
    if (doc.kind === 'Deployment') {
      const replicas = (doc.spec as { replicas?: number }).replicas ?? 1;
      doc.status = { replicas, readyReplicas: replicas, availableReplicas: replicas };
    }
    api.apply(doc);
  }
  // What `weft ca` writes on first start with generated trust.
  api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'weft-trust-anchors', namespace: NS }, data: { 'roots.pem': pem(root) } });
  api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'weft-ca-issuer', namespace: NS }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(pem(issuer)), 'tls.key': b64('(key)'), 'ca.crt': b64(pem(root)) } });
  api.apply({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: 'weft-injector-x1', namespace: NS, labels: { 'kubernetes.io/service-name': 'weft-injector' } },
    endpoints: [{ addresses: ['10.0.0.7'], conditions: { ready: true } }, { addresses: ['10.0.0.8'], conditions: { ready: true } }],
    ports: [{ name: 'https', port: 8443, protocol: 'TCP' }],
  });
  api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'weft.dev/inject': 'enabled' } }, status: { phase: 'Active' } });
  for (const p of pods) api.apply(meshedPodObject(p.name, p.address, pem(root)));
  api.setAuthorizer(rbacAuthorizer(api));
}

/** A pod as the injector made it: the trust anchors PEM is in its proxy's env WEFT_TRUST_ANCHORS (null: none). */
export function meshedPodObject(name: string, ip: string, trustAnchors: string | null): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: 'shop', labels: { app: 'web' }, annotations: { 'weft.dev/injected': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8b6c5', uid: 'u1', controller: true }],
    },
    spec: {
      serviceAccountName: 'web',
      initContainers: [
        { name: 'weft-init', image: 'weft' },
        { name: 'weft-proxy', image: 'weft', restartPolicy: 'Always', ...(trustAnchors === null ? {} : { env: [{ name: 'WEFT_TRUST_ANCHORS', value: trustAnchors }] }) },
      ],
      containers: [{ name: 'web', image: 'nginx' }],
    },
    status: {
      phase: 'Running', podIP: ip,
      initContainerStatuses: [{ name: 'weft-init', ready: false, restartCount: 0 }, { name: 'weft-proxy', ready: true, restartCount: 0 }],
      containerStatuses: [{ name: 'web', ready: true, restartCount: 0 }],
    },
  };
}

/** The MutatingWebhookConfiguration with its caBundle replaced by `caPem` (the mesh root instead of the webhook's CA, say). */
export function replaceCaBundle(api: TestApiServer, caPem: string): void {
  const mwc = api.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, 'weft-injector') as KubeObject & { webhooks: { clientConfig: { caBundle: string } }[] };
  for (const w of mwc.webhooks) w.clientConfig.caBundle = b64(caPem);
  api.apply(mwc);
}
