// What the injector writes on a default pod's proxy container, so the bench's proxies run with the
// same V8 flags a pod does (NODE_OPTIONS: the heap and semi-space bounds of lib/node-options.ts).
import { planInjection } from '../../injector/patch.js';
import { applyOperations } from '../../injector/json-patch.js';
import { DEFAULT_SETTINGS } from '../../injector/settings.js';

type Obj = Record<string, unknown>;

/** The NODE_OPTIONS the injector gives the proxy of a default pod, with `trustAnchors` as its roots. */
export function injectedProxyNodeOptions(trustAnchors: string): string {
  const pod: Obj = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bench-0', namespace: 'bench' }, spec: { containers: [{ name: 'app', image: 'nginx' }] } };
  const plan = planInjection({ pod, namespace: 'bench', namespaceInjection: 'enabled', settings: { ...DEFAULT_SETTINGS, trustAnchors } });
  if (plan.kind !== 'injected') throw new Error(`the injector did not inject the bench pod: ${JSON.stringify(plan)}`);
  const patched = applyOperations(pod, plan.patch);
  const spec = patched['spec'] as Obj;
  const all = [...((spec['initContainers'] as Obj[] | undefined) ?? []), ...((spec['containers'] as Obj[] | undefined) ?? [])];
  const proxy = all.find((c) => c['name'] === 'weft-proxy');
  const env = (proxy?.['env'] as Obj[] | undefined) ?? [];
  const value = env.find((e) => e['name'] === 'NODE_OPTIONS')?.['value'];
  if (typeof value !== 'string') throw new Error('the injector wrote no NODE_OPTIONS on the proxy');
  return value;
}
