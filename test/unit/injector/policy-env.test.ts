// The injector hands the proxy what its authorization needs: the pod's labels (WEFT_POD_LABELS,
// which policies select pods by) and the pod annotation config.weft.dev/default-inbound-policy
// (WEFT_DEFAULT_INBOUND_POLICY); a bad default rejects the pod.
import t from 'tap';
import { planInjection, type InjectionResult } from '../../../injector/patch.js';
import { applyOperations } from '../../../injector/json-patch.js';
import { DEFAULT_SETTINGS as BARE_SETTINGS } from '../../../injector/settings.js';
import { makeTestPki } from '../../support/pki.js';

type Obj = Record<string, unknown>;

const ROOTS = (await makeTestPki()).authority.root.toString('pem') + '\n';
const SETTINGS = { ...BARE_SETTINGS, trustAnchors: ROOTS };

function pod(labels: Record<string, string> | undefined, annotations: Record<string, string> = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop', ...(labels ? { labels } : {}), annotations },
    spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }] }] },
  };
}

const plan = (p: Obj): InjectionResult => planInjection({ pod: p, namespace: 'shop', namespaceInjection: 'enabled', settings: SETTINGS });

function proxyEnv(p: Obj): Record<string, unknown> {
  const r = plan(p);
  if (r.kind !== 'injected') throw new Error(`expected injection, got ${JSON.stringify(r)}`);
  const out = applyOperations(p, r.patch);
  const spec = out['spec'] as { containers?: Obj[]; initContainers?: Obj[] };
  const proxy = [...(spec.initContainers ?? []), ...(spec.containers ?? [])].find((c) => c['name'] === 'weft-proxy');
  return Object.fromEntries(((proxy?.['env'] as Obj[]) ?? []).map((e) => [e['name'], e['value'] ?? e['valueFrom']]));
}

t.test("the pod's labels reach the proxy as WEFT_POD_LABELS, sorted key=value", async (t) => {
  t.equal(proxyEnv(pod({ version: 'v2', app: 'web', 'app.kubernetes.io/part-of': 'shop' }))['WEFT_POD_LABELS'], 'app=web,app.kubernetes.io/part-of=shop,version=v2');
  t.notOk('WEFT_POD_LABELS' in proxyEnv(pod(undefined)), 'a pod without labels gets no variable (the proxy default is none)');
});

t.test('config.weft.dev/default-inbound-policy reaches the proxy as WEFT_DEFAULT_INBOUND_POLICY', async (t) => {
  t.equal(proxyEnv(pod({ app: 'web' }, { 'config.weft.dev/default-inbound-policy': 'deny' }))['WEFT_DEFAULT_INBOUND_POLICY'], 'deny');
  t.equal(proxyEnv(pod({ app: 'web' }, { 'config.weft.dev/default-inbound-policy': ' all-authenticated ' }))['WEFT_DEFAULT_INBOUND_POLICY'], 'all-authenticated');
  t.notOk('WEFT_DEFAULT_INBOUND_POLICY' in proxyEnv(pod({ app: 'web' })), 'absent: the namespace default (or the mesh default) applies');
  const r = plan(pod({ app: 'web' }, { 'config.weft.dev/default-inbound-policy': 'allow-all' }));
  t.equal(r.kind, 'rejected', 'a typo must not silently open or close the pod');
  if (r.kind === 'rejected') t.match(r.message, /default-inbound-policy="allow-all": must be one of all-unauthenticated, all-authenticated, cluster-authenticated, deny/);
});
