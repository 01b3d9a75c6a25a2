// The pure patching core: a pod (or pod template), what is known of its namespace and the
// injector settings in; a decision with a readable reason, or an RFC 6902 patch, out.
import { checkResources, parseAnnotations, type PodOverrides } from './annotations.js';
import { isObject, pointer, type PatchOperation } from './json-patch.js';
import { rewriteProbes, type AppProbeSpec } from './probes.js';
import { pullSecretOps } from './pull-secrets.js';
import { PROXY_UID, SIDECAR_PORTS } from '../lib/ports.js';
import { quantityValue, type InjectorSettings, type ProxyResources } from './settings.js';
import { proxyNodeOptions } from '../lib/node-options.js';

/** Label on a namespace, and annotation on a pod, that turn injection on or off. */
export const INJECT_KEY = 'weft.dev/inject';
/** Annotation the injector adds; a pod carrying it is never injected again. */
export const INJECTED_KEY = 'weft.dev/injected';
/** Annotation the injector puts on a pod that asked to be meshed but was not, saying why. */
export const SKIPPED_KEY = 'weft.dev/inject-skipped';

/** Why a pod was left alone, as a stable word for logs and metrics. */
export type SkipReason = 'already-injected' | 'disabled' | 'namespace-not-enabled' | 'host-network' | 'weft-component' | 'name-taken';
/** Label marking weft's own pods (the chart sets it, value `weft`, on every weft workload). */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of';
/** The chart's component label on weft's own pods; its webhooks' objectSelector skips them too. */
export const COMPONENT_LABEL = 'weft.dev/component';
/** Names the injector adds to a pod. */
export const NAMES = {
  init: 'weft-init',
  proxy: 'weft-proxy',
  tokenVolume: 'weft-token',
} as const;
/** Where the proxy finds its projected token (docs/sidecar-config.md); trust anchors come in its env. */
export const PATHS = {
  tokenDir: '/var/run/secrets/weft.dev/serviceaccount',
  tokenFile: '/var/run/secrets/weft.dev/serviceaccount/token',
} as const;
/** The proxy env variable carrying the trust anchors PEM (as Linkerd's LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS). */
export const TRUST_ANCHORS_ENV = 'WEFT_TRUST_ANCHORS';

/** What the namespace says about injection: label value `enabled`, or anything else. */
export type NamespaceInjection = 'enabled' | 'not-enabled';

/** Everything the decision needs. */
export interface InjectionInput {
  /** A Pod, or the `{metadata, spec}` of a pod template. */
  readonly pod: unknown;
  /** The pod's namespace (the AdmissionReview's request.namespace), for messages. */
  readonly namespace: string;
  readonly namespaceInjection: NamespaceInjection;
  readonly settings: InjectorSettings;
}

/** The outcome: left alone (with why), refused (with why), or the patch to apply. */
export type InjectionResult =
  | {
      readonly kind: 'skipped';
      readonly reason: string;
      readonly code: SkipReason;
      /** The pod was in scope (its namespace or its own annotation asked for weft): say why on it. */
      readonly annotate: boolean;
      readonly warnings: readonly string[];
    }
  | {
      readonly kind: 'rejected';
      readonly message: string;
      readonly warnings: readonly string[];
      /** Set when the fault is the injector's, not the pod's: WEFT_ERR_INJECT_NO_TRUST_ANCHORS. */
      readonly code?: 'WEFT_ERR_INJECT_NO_TRUST_ANCHORS';
    }
  | {
      readonly kind: 'injected';
      readonly patch: readonly PatchOperation[];
      readonly warnings: readonly string[];
      /** Probes left unrewritten and similar remarks, for logs. */
      readonly notes: readonly string[];
    };

type Obj = Record<string, unknown>;

/** A readable name for a pod that may not have one yet (templates, generateName). */
export function podDisplayName(pod: unknown, namespace: string): string {
  const meta = isObject(pod) && isObject(pod['metadata']) ? pod['metadata'] : {};
  const name =
    typeof meta['name'] === 'string' && meta['name'] !== ''
      ? meta['name']
      : typeof meta['generateName'] === 'string' && meta['generateName'] !== ''
        ? `${meta['generateName']}<generated>`
        : '<unnamed>';
  return namespace === '' ? name : `${namespace}/${name}`;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function objects(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/** Decides whether to inject and, if so, builds the patch. Pure: same input, same output. */
export function planInjection(input: InjectionInput): InjectionResult {
  const { pod, settings } = input;
  const who = podDisplayName(pod, input.namespace);
  const warnings: string[] = [];
  if (!isObject(pod) || !isObject(pod['spec']) || !Array.isArray(pod['spec']['containers'])) {
    return { kind: 'rejected', message: `pod ${who} has no spec.containers list`, warnings };
  }
  const meta = isObject(pod['metadata']) ? pod['metadata'] : undefined;
  const spec = pod['spec'];
  const annotations = stringMap(meta?.['annotations']);
  const labels = stringMap(meta?.['labels']);
  const podSays = annotations[INJECT_KEY];
  // Only a pod that asked for the mesh (by its namespace or itself) gets the annotation: the
  // others, every pod of every other namespace, are left byte for byte as they came.
  const inScope = podSays === 'enabled' || (input.namespaceInjection === 'enabled' && podSays !== 'disabled');
  const skip = (code: SkipReason, reason: string, annotate = inScope): InjectionResult => ({ kind: 'skipped', reason: `pod ${who} ${reason}`, code, annotate, warnings });

  if (INJECTED_KEY in annotations) return skip('already-injected', `already carries annotation ${INJECTED_KEY}`, false);
  if (podSays !== undefined && podSays !== 'enabled' && podSays !== 'disabled') {
    warnings.push(`annotation ${INJECT_KEY}=${JSON.stringify(podSays)} is neither enabled nor disabled and was ignored`);
  }
  if (podSays === 'disabled') return skip('disabled', `has annotation ${INJECT_KEY}: disabled`, input.namespaceInjection === 'enabled');
  if (podSays !== 'enabled' && input.namespaceInjection !== 'enabled') {
    return skip('namespace-not-enabled', `is in namespace ${input.namespace || '<none>'}, which is not labelled ${INJECT_KEY}=enabled, and has no annotation ${INJECT_KEY}: enabled`);
  }
  if (spec['hostNetwork'] === true) {
    if (podSays === 'enabled') warnings.push(`pod ${who} asks for injection but uses hostNetwork; it was not injected`);
    return skip('host-network', 'uses hostNetwork: capturing its traffic would capture the node\'s');
  }
  // weft's own pods are never touched, not even annotated.
  if (labels[PART_OF_LABEL] === 'weft') return skip('weft-component', `is part of weft itself (label ${PART_OF_LABEL}=weft)`, false);
  if (COMPONENT_LABEL in labels) return skip('weft-component', `is part of weft itself (label ${COMPONENT_LABEL})`, false);

  const containers = objects(spec['containers']);
  const initContainers = objects(spec['initContainers']);
  const volumes = objects(spec['volumes']);
  const taken = [...containers, ...initContainers].map((c) => c['name']);
  for (const name of [NAMES.init, NAMES.proxy]) {
    if (taken.includes(name)) return skip('name-taken', `already has a container named ${name}`);
  }
  if (volumes.some((v) => v['name'] === NAMES.tokenVolume)) return skip('name-taken', `already has a volume named ${NAMES.tokenVolume}`);
  if (settings.trustAnchors === undefined || settings.trustAnchors.trim() === '') {
    // A proxy without trust anchors can never get a certificate: refuse rather than admit a pod
    // that would never become ready.
    return {
      kind: 'rejected',
      code: 'WEFT_ERR_INJECT_NO_TRUST_ANCHORS',
      message: `weft cannot inject pod ${who}: the injector has no trust anchors (${settings.trustAnchorsFile} is missing or holds no certificate); check the weft-trust-anchors ConfigMap in weft's namespace and kubectl logs deploy/weft-injector`,
      warnings,
    };
  }

  const errors: string[] = [];
  for (const c of [...containers, ...initContainers]) {
    for (const p of objects(c['ports'])) {
      const port = p['containerPort'];
      if (port === SIDECAR_PORTS.outbound || port === SIDECAR_PORTS.inbound || port === SIDECAR_PORTS.admin) {
        errors.push(`container ${String(c['name'])} declares port ${port}, which the weft sidecar uses (${SIDECAR_PORTS.outbound}, ${SIDECAR_PORTS.inbound}, ${SIDECAR_PORTS.admin}); move the app or set annotation ${INJECT_KEY}: disabled`);
      }
    }
  }
  const parsed = parseAnnotations(annotations);
  warnings.push(...parsed.warnings);
  errors.push(...parsed.errors);
  const resources = { ...settings.proxyResources, ...parsed.overrides.resources };
  errors.push(...checkResources(resources));
  if (errors.length > 0) {
    return { kind: 'rejected', message: `weft cannot inject pod ${who}: ${errors.join('; ')}`, warnings };
  }

  return { kind: 'injected', ...buildPatch(spec, meta, annotations, parsed.overrides, resources, settings), warnings };
}

function buildPatch(
  spec: Obj,
  meta: Obj | undefined,
  annotations: Record<string, string>,
  overrides: PodOverrides,
  resources: ProxyResources,
  settings: InjectorSettings,
): { patch: PatchOperation[]; notes: string[] } {
  const ops: PatchOperation[] = [];
  const notes: string[] = [];
  const probes = new Map<string, AppProbeSpec>();

  // Probes first, while the original indices still hold (inserts below shift them).
  const rewriteAt = (field: 'containers' | 'initContainers', onlyNativeSidecars: boolean): void => {
    const list = Array.isArray(spec[field]) ? (spec[field] as unknown[]) : [];
    list.forEach((c, i) => {
      if (!isObject(c)) return;
      if (onlyNativeSidecars && c['restartPolicy'] !== 'Always') return;
      const r = rewriteProbes(c);
      notes.push(...r.notes);
      for (const [k, v] of r.originals) probes.set(k, v);
      for (const [probeField, probe] of r.replaced) ops.push({ op: 'replace', path: pointer('spec', field, i, probeField), value: probe });
    });
  };
  rewriteAt('containers', false);
  // A user's native sidecar starts before the app; its probes can go through the proxy only when
  // the proxy is itself a native sidecar that started earlier still.
  if (settings.nativeSidecars) rewriteAt('initContainers', true);

  const inboundMode = overrides.inboundMode ?? settings.inboundMode;
  const init = initContainer(settings, overrides, inboundMode);
  const proxy = proxyContainer(settings, overrides, resources, probes, stringMap(meta?.['labels']));

  if (!Array.isArray(spec['initContainers'])) {
    ops.push({ op: 'add', path: '/spec/initContainers', value: settings.nativeSidecars ? [init, proxy] : [init] });
  } else {
    // weft-init runs first so every later container, including the user's init containers, is
    // captured; the native proxy comes right after it so those init containers can use the mesh.
    ops.push({ op: 'add', path: '/spec/initContainers/0', value: init });
    if (settings.nativeSidecars) ops.push({ op: 'add', path: '/spec/initContainers/1', value: proxy });
  }
  if (!settings.nativeSidecars) ops.push({ op: 'add', path: '/spec/containers/0', value: proxy });

  const newVolumes = [
    {
      name: NAMES.tokenVolume,
      projected: {
        sources: [{ serviceAccountToken: { audience: 'weft-ca', expirationSeconds: settings.tokenExpirationSeconds, path: 'token' } }],
      },
    },
  ];
  if (!Array.isArray(spec['volumes'])) ops.push({ op: 'add', path: '/spec/volumes', value: newVolumes });
  else for (const v of newVolumes) ops.push({ op: 'add', path: '/spec/volumes/-', value: v });
  // weft-init and weft-proxy use the weft image, which may live in a private registry.
  ops.push(...pullSecretOps(spec, settings.imagePullSecrets));

  const added: Record<string, string> = { [INJECTED_KEY]: settings.nativeSidecars ? 'native-sidecar' : 'container' };
  const first = Array.isArray(spec['containers']) && isObject(spec['containers'][0]) ? spec['containers'][0]['name'] : undefined;
  // With the proxy as the first container, kubectl logs/exec would pick it; point them at the app.
  if (!settings.nativeSidecars && typeof first === 'string' && !('kubectl.kubernetes.io/default-container' in annotations)) {
    added['kubectl.kubernetes.io/default-container'] = first;
  }
  ops.push(...annotationOps(meta, added));
  return { patch: ops, notes };
}

/** The JSON patch operations that add `added` to a pod's annotations, whatever of metadata exists. */
export function annotationOps(meta: Readonly<Record<string, unknown>> | undefined, added: Readonly<Record<string, string>>): PatchOperation[] {
  if (meta === undefined) return [{ op: 'add', path: '/metadata', value: { annotations: added } }];
  if (!isObject(meta['annotations'])) return [{ op: 'add', path: '/metadata/annotations', value: added }];
  return Object.entries(added).map(([k, v]) => ({ op: 'add', path: pointer('metadata', 'annotations', k), value: v }));
}

function resourceBlock(res: ProxyResources): Obj {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (res.cpuRequest !== undefined) requests['cpu'] = res.cpuRequest;
  if (res.memoryRequest !== undefined) requests['memory'] = res.memoryRequest;
  if (res.cpuLimit !== undefined) limits['cpu'] = res.cpuLimit;
  if (res.memoryLimit !== undefined) limits['memory'] = res.memoryLimit;
  const out: Obj = {};
  if (Object.keys(requests).length > 0) out['requests'] = requests;
  if (Object.keys(limits).length > 0) out['limits'] = limits;
  return out;
}

function initContainer(settings: InjectorSettings, o: PodOverrides, inboundMode: string): Obj {
  const env = [
    { name: 'WEFT_PROXY_UID', value: String(PROXY_UID) },
    { name: 'WEFT_INBOUND_PORT', value: String(SIDECAR_PORTS.inbound) },
    { name: 'WEFT_OUTBOUND_PORT', value: String(SIDECAR_PORTS.outbound) },
    { name: 'WEFT_ADMIN_PORT', value: String(SIDECAR_PORTS.admin) },
    { name: 'WEFT_INBOUND_MODE', value: inboundMode },
    // The signal that this is the pod's init container: weft init changes rules only then (or with --apply).
    { name: 'WEFT_INIT_APPLY', value: 'true' },
  ];
  if (o.skipInboundPorts !== undefined) env.push({ name: 'WEFT_SKIP_INBOUND_PORTS', value: o.skipInboundPorts });
  if (o.skipOutboundPorts !== undefined) env.push({ name: 'WEFT_SKIP_OUTBOUND_PORTS', value: o.skipOutboundPorts });
  if (o.skipOutboundCidrs !== undefined) env.push({ name: 'WEFT_SKIP_OUTBOUND_CIDRS', value: o.skipOutboundCidrs });
  return {
    name: NAMES.init,
    image: settings.image,
    imagePullPolicy: settings.imagePullPolicy,
    args: ['init'],
    env,
    resources: resourceBlock(settings.initResources),
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function fieldEnv(name: string, fieldPath: string): Obj {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

function proxyContainer(
  settings: InjectorSettings,
  o: PodOverrides,
  resources: ProxyResources,
  probes: ReadonlyMap<string, AppProbeSpec>,
  labels: Readonly<Record<string, string>>,
): Obj {
  const env: Obj[] = [
    { name: 'WEFT_MODE', value: 'kubernetes' },
    { name: 'WEFT_LOG_LEVEL', value: o.logLevel ?? settings.logLevel },
    { name: 'WEFT_TRUST_DOMAIN', value: settings.trustDomain },
    fieldEnv('WEFT_POD_NAME', 'metadata.name'),
    fieldEnv('WEFT_POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('WEFT_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'WEFT_CA_ADDR', value: settings.caAddr },
    { name: 'WEFT_DESTINATION_ADDR', value: settings.destinationAddr },
    { name: TRUST_ANCHORS_ENV, value: settings.trustAnchors ?? '' },
    { name: 'WEFT_TOKEN_FILE', value: PATHS.tokenFile },
  ];
  if (settings.destinationIdentity !== '') env.push({ name: 'WEFT_DESTINATION_IDENTITY', value: settings.destinationIdentity });
  // V8's heap bounded by the proxy's memory limit, its young generation by a fixed bound (lib/node-options.ts).
  const memoryLimit = resources.memoryLimit;
  env.push({ name: 'NODE_OPTIONS', value: proxyNodeOptions(memoryLimit === undefined ? undefined : quantityValue(memoryLimit)) });
  // Written only when on: the proxy's own default is off.
  if (o.accessLog ?? settings.accessLog) env.push({ name: 'WEFT_ACCESS_LOG', value: 'true' });
  if (o.upstreams !== undefined) env.push({ name: 'WEFT_UPSTREAMS', value: o.upstreams });
  if (o.opaquePorts !== undefined) env.push({ name: 'WEFT_OPAQUE_PORTS', value: o.opaquePorts });
  // The mesh-wide egress policy (Helm proxy.egress); the proxy's default `allow` is not written.
  if (settings.egressMode !== 'allow') {
    env.push({ name: 'WEFT_EGRESS_MODE', value: settings.egressMode });
    env.push({ name: 'WEFT_EGRESS_ALLOW', value: settings.egressAllow.join(',') });
  }
  // Authorization policies select pods by label (docs/policy.md); the labels at admission are the
  // ones the pod template gave, and a label edited later needs a restart to be seen.
  const labelList = Object.keys(labels).sort().map((k) => `${k}=${labels[k] ?? ''}`);
  if (labelList.length > 0) env.push({ name: 'WEFT_POD_LABELS', value: labelList.join(',') });
  if (o.defaultInboundPolicy !== undefined) env.push({ name: 'WEFT_DEFAULT_INBOUND_POLICY', value: o.defaultInboundPolicy });
  if (probes.size > 0) env.push({ name: 'WEFT_APP_PROBES', value: JSON.stringify(Object.fromEntries(probes)) });
  const admin = (path: string): Obj => ({ httpGet: { path, port: SIDECAR_PORTS.admin, scheme: 'HTTP' } });
  const c: Obj = {
    name: NAMES.proxy,
    image: settings.image,
    imagePullPolicy: settings.imagePullPolicy,
    args: ['proxy'],
    ports: [
      { name: 'weft-inbound', containerPort: SIDECAR_PORTS.inbound, protocol: 'TCP' },
      { name: 'weft-admin', containerPort: SIDECAR_PORTS.admin, protocol: 'TCP' },
    ],
    env,
    resources: resourceBlock(resources),
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: NAMES.tokenVolume, mountPath: PATHS.tokenDir, readOnly: true },
    ],
    livenessProbe: { ...admin('/live'), periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3 },
    readinessProbe: { ...admin('/ready'), periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 3 },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (settings.nativeSidecars) {
    // The kubelet starts the next container only once this startup probe passes: the app never
    // runs before the proxy holds a certificate, and a Job's pod still completes.
    c['restartPolicy'] = 'Always';
    c['startupProbe'] = { ...admin('/ready'), periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 };
  } else {
    // As Istio's holdApplicationUntilProxyStarts: the kubelet runs postStart to completion before
    // it starts the next container, so the app waits until the proxy is ready.
    c['lifecycle'] = { postStart: { exec: { command: ['weft', 'await-proxy', '--timeout-seconds', '120'] } } };
  }
  return c;
}
