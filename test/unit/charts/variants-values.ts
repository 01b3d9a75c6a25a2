// Rows of the Helm variants table for the per-component scheduling, image and pull-secret values.
import type { Doc, Rendered, Variant } from './helm.js';
import { env, find } from './helm.js';

const COMPONENTS = ['ca', 'injector', 'destination', 'gateway'] as const;
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const podSpec = (r: Rendered, c: string): Doc => find(r, 'Deployment', `weft-${c}`)?.spec.template.spec as Doc;
const podMeta = (r: Rendered, c: string): Doc => find(r, 'Deployment', `weft-${c}`)?.spec.template.metadata as Doc;
/** Every weft container image the chart renders, and the one the injector hands to proxies. */
const images = (r: Rendered): string[] => [
  ...COMPONENTS.map((c) => String(podSpec(r, c).containers[0].image)),
  env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_IMAGE') ?? '',
];

/** Variants for the values of issue 15 item 2 (scheduling, digests, pull secrets). */
export const VARIANTS_PART2: readonly Variant[] = [
  {
    name: 'no priorityClassName by default',
    values: { gateway: { enabled: true } },
    check: (t, r) => {
      for (const c of COMPONENTS) t.notOk('priorityClassName' in podSpec(r, c), `weft-${c} has no priorityClassName (system-cluster-critical is not hard-coded)`);
    },
  },
  {
    name: 'scheduling values per component',
    values: Object.fromEntries(COMPONENTS.map((c) => [c, {
      ...(c === 'gateway' ? { enabled: true } : {}),
      priorityClassName: `weft-${c}-priority`,
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: [c] }] }] } } },
      topologySpreadConstraints: [{ maxSkew: 2, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { 'weft.dev/component': c } } }],
      podLabels: { team: `${c}-owners` },
      podAnnotations: { 'example.com/owner': c },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'weft', operator: 'Exists', effect: 'NoSchedule' }],
    }])),
    check: (t, r) => {
      for (const c of COMPONENTS) {
        const spec = podSpec(r, c);
        t.equal(spec.priorityClassName, `weft-${c}-priority`, `weft-${c} priorityClassName`);
        t.same(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values, [c], `weft-${c} affinity replaces the default`);
        t.notOk(spec.affinity.podAntiAffinity, `weft-${c}: the default anti-affinity is replaced, not merged`);
        t.same(spec.topologySpreadConstraints.map((x: Doc) => [x.maxSkew, x.whenUnsatisfiable]), [[2, 'DoNotSchedule']], `weft-${c} topologySpreadConstraints`);
        t.equal(podMeta(r, c).labels.team, `${c}-owners`, `weft-${c} podLabels`);
        t.notOk(find(r, 'Deployment', `weft-${c}`)?.spec.selector.matchLabels.team, `weft-${c}: podLabels stay out of the selector`);
        t.equal(podMeta(r, c).annotations['example.com/owner'], c, `weft-${c} podAnnotations`);
        t.equal(podMeta(r, c).annotations['weft.dev/inject'], 'disabled', `weft-${c} keeps its own annotation`);
        t.same(spec.nodeSelector, { 'kubernetes.io/os': 'linux' }, `weft-${c} nodeSelector`);
        t.same(spec.tolerations, [{ key: 'weft', operator: 'Exists', effect: 'NoSchedule' }], `weft-${c} tolerations`);
      }
    },
  },
  {
    name: 'image pinned by image.digest',
    values: { gateway: { enabled: true }, image: { repository: 'registry.example.com/platform/weft', tag: '0.1.0', digest: DIGEST } },
    check: (t, r) => t.same(images(r), Array(5).fill(`registry.example.com/platform/weft@${DIGEST}`), 'repo@sha256:..., in every Deployment and in what the injector gives proxies'),
  },
  {
    name: 'image tag that is a digest',
    values: { gateway: { enabled: true }, image: { repository: 'registry.example.com:5000/weft', tag: DIGEST } },
    check: (t, r) => t.same(images(r), Array(5).fill(`registry.example.com:5000/weft@${DIGEST}`), 'repo@sha256:..., never repo:sha256:...'),
  },
  {
    name: 'image by tag',
    values: { gateway: { enabled: true }, image: { repository: 'registry.example.com:5000/weft', tag: '1.2.3', pullPolicy: 'Always' } },
    check: (t, r) => {
      t.same(images(r), Array(5).fill('registry.example.com:5000/weft:1.2.3'));
      t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_IMAGE_PULL_POLICY'), 'Always');
    },
  },
  {
    name: 'imagePullSecrets on weft pods and injected pods',
    values: { gateway: { enabled: true }, imagePullSecrets: ['registry-credentials', 'mirror-credentials'] },
    check: (t, r) => {
      for (const c of COMPONENTS) t.same(podSpec(r, c).imagePullSecrets, [{ name: 'registry-credentials' }, { name: 'mirror-credentials' }], `weft-${c} pulls with them`);
      t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_IMAGE_PULL_SECRETS'), 'registry-credentials,mirror-credentials', 'the injector adds them to every injected pod');
    },
  },
  {
    name: 'no imagePullSecrets',
    values: {},
    check: (t, r) => {
      t.equal(env(find(r, 'Deployment', 'weft-injector'), 'WEFT_INJECTOR_IMAGE_PULL_SECRETS'), '');
      t.notOk('imagePullSecrets' in podSpec(r, 'ca'));
    },
  },
  {
    name: 'proxy resources with limits null',
    values: { proxy: { resources: { limits: null }, initResources: { requests: null } } },
    check: (t, r) => {
      const injector = find(r, 'Deployment', 'weft-injector');
      t.same(['CPU_LIMIT', 'MEMORY_LIMIT', 'CPU_REQUEST'].map((s) => env(injector, `WEFT_INJECTOR_PROXY_${s}`)), ['none', 'none', '10m'], 'no proxy limits, requests kept');
      t.same(['CPU_REQUEST', 'MEMORY_REQUEST', 'CPU_LIMIT'].map((s) => env(injector, `WEFT_INJECTOR_INIT_${s}`)), ['none', 'none', '100m'], 'no init requests, limits kept');
    },
  },
  {
    name: 'disruption budgets as percentages',
    values: { ca: { podDisruptionBudget: { maxUnavailable: '50%' } }, gateway: { enabled: true, podDisruptionBudget: { maxUnavailable: 2 } } },
    check: (t, r) => t.same([find(r, 'PodDisruptionBudget', 'weft-ca')?.spec.maxUnavailable, find(r, 'PodDisruptionBudget', 'weft-gateway')?.spec.maxUnavailable], ['50%', 2]),
  },
  {
    name: 'loadBalancerSourceRanges on a LoadBalancer',
    values: { gateway: { enabled: true, service: { loadBalancerSourceRanges: ['203.0.113.0/24'] } } },
    check: (t, r) => t.same(find(r, 'Service', 'weft-gateway')?.spec.loadBalancerSourceRanges, ['203.0.113.0/24']),
  },
];
