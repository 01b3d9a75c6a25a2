// What the chart sets on each weft Deployment is what that component reads: no variable the
// process ignores (WEFT_POD_IP once was), and so no unknown-variable warning at a normal start.
import t from 'tap';
import { chartValues, helmTemplate, type Doc } from '../charts/helm.js';
import { CHECK_SETTING_NAMES, COMPONENT_SETTINGS, unknownWeftVariables } from '../../../cli/settings.js';
import { settingNames } from '../../../lib/config.js';

interface EnvVar {
  readonly name: string;
  readonly value?: string;
}

interface Deployment {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly spec: { readonly template: { readonly spec: { readonly containers: readonly { readonly env?: readonly EnvVar[] }[] } } };
}

function deployments(docs: readonly Doc[]): Deployment[] {
  return (docs as readonly Deployment[]).filter((d) => d?.kind === 'Deployment');
}

/** Node's own variables the chart sets (the V8 heap bound, lib/node-options.ts). */
const NODE_VARIABLES: ReadonlySet<string> = new Set(['NODE_OPTIONS']);

const COMPONENT_OF: Readonly<Record<string, string>> = { 'weft-ca': 'ca', 'weft-destination': 'destination', 'weft-injector': 'injector', 'weft-gateway': 'gateway' };

t.test('each weft Deployment sets only variables its own component reads (or weft check reads from its spec)', async (t) => {
  const found = deployments(helmTemplate(chartValues({ gateway: { enabled: true, tlsSecrets: [{ namespace: 'a', name: 'b' }] } })).docs);
  t.same(found.map((d) => d.metadata.name).sort(), Object.keys(COMPONENT_OF).sort(), 'the four weft Deployments');
  for (const d of found) {
    const component = COMPONENT_OF[d.metadata.name] ?? '';
    const table = COMPONENT_SETTINGS[component];
    t.ok(table, `${d.metadata.name} has a settings table`);
    const reads = new Set([...settingNames(table ?? {}), ...CHECK_SETTING_NAMES]);
    const env = d.spec.template.spec.containers[0]?.env ?? [];
    for (const { name } of env) {
      if (NODE_VARIABLES.has(name)) continue;
      t.ok(reads.has(name), `${d.metadata.name}: ${name} is read by weft ${component}`);
    }
    t.same(unknownWeftVariables(Object.fromEntries(env.map((e) => [e.name, e.value ?? '']))), [], `${d.metadata.name} starts without an unknown-variable warning`);
    t.ok(env.some((e) => e.name === 'WEFT_POD_NAME'), `${d.metadata.name} gets its pod name for log lines`);
  }
});
