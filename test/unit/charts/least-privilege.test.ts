// Least privilege over the rendered chart, judged by the project's RBAC authorizer (the rules the
// API server would apply to the chart's real Roles and bindings): no ServiceAccount outside
// weft's own components gains any access; meshed proxies cannot read a Pod; each weft component
// may do exactly the rows of lib/kube/access.ts (the API calls its code makes), no more.
import t from 'tap';
import { helmTemplate } from './helm.js';
import { TestApiServer, type KubeObject, type RequestAttributes } from '../../support/test-apiserver.js';
import { CHART_RESOURCES, rbacAuthorizer } from '../../support/rbac-authorizer.js';
import { COMPONENT_SERVICE_ACCOUNTS, KUBE_ACCESS, type Component } from '../../../lib/kube/access.js';

const NS = 'weft-system';
const api = await TestApiServer.start();
t.teardown(() => api.stop());
for (const def of CHART_RESOURCES) api.addResource(def);
api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
// The gateway on, so its grants are judged too; the CRDs left out: the test API server serves no
// CustomResourceDefinition kind, and they grant nothing.
for (const doc of helmTemplate({ gateway: { enabled: true }, crds: { install: false } }, { namespace: NS }).docs as KubeObject[]) api.apply(doc);
const allowed = rbacAuthorizer(api);

/** The user a pod's service-account token authenticates as. */
const sa = (namespace: string, name: string): RequestAttributes['user'] => ({
  username: `system:serviceaccount:${namespace}:${name}`,
  uid: `${namespace}-${name}`,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
});
const may = (user: RequestAttributes['user'], verb: string, group: string, resource: string, namespace?: string, name?: string): boolean =>
  allowed({ user, verb, group, resource, ...(namespace === undefined ? {} : { namespace }), ...(name === undefined ? {} : { name }) });

const DISCOVERY = [['', 'pods'], ['', 'services'], ['discovery.k8s.io', 'endpointslices']] as const;
const READ = ['get', 'list', 'watch'] as const;
const ALL_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] as const;

t.test('a ServiceAccount in an unrelated namespace cannot get, list or watch Pods, Services or EndpointSlices anywhere', async (t) => {
  const intruder = sa('elsewhere', 'intruder');
  for (const [group, resource] of DISCOVERY) {
    for (const verb of READ) {
      for (const ns of [undefined, 'elsewhere', 'shop', NS]) t.notOk(may(intruder, verb, group, resource, ns, verb === 'get' ? 'x' : undefined), `${verb} ${resource} in ${ns ?? 'all namespaces'}`);
    }
  }
});

t.test('a meshed proxy (its app service account) cannot get a Pod, nor read anything the chart grants', async (t) => {
  const proxy = sa('shop', 'web');
  t.notOk(may(proxy, 'get', '', 'pods', 'shop', 'web-0'), 'get its own namespace pod');
  t.notOk(may(proxy, 'get', '', 'pods', 'payments', 'db-0'), 'get another pod');
  for (const row of KUBE_ACCESS) {
    for (const verb of row.verbs) t.notOk(may(proxy, verb, row.group, row.resource, row.scope === 'cluster' ? undefined : NS, row.names?.[0]), `${verb} ${row.resource}`);
  }
});

t.test('no binding in the chart names a group or a ServiceAccount outside weft', async (t) => {
  const weftAccounts = new Set(Object.values(COMPONENT_SERVICE_ACCOUNTS));
  for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
    for (const b of api.list('rbac.authorization.k8s.io/v1', kind) as (KubeObject & { subjects?: { kind: string; name: string; namespace?: string }[] })[]) {
      for (const s of b.subjects ?? []) t.ok(s.kind === 'ServiceAccount' && s.namespace === NS && weftAccounts.has(s.name), `${kind} ${b.metadata.name} names ${s.kind} ${s.namespace ?? ''}/${s.name}`);
    }
  }
});

t.test('each weft component may do exactly its rows of lib/kube/access.ts, no more', async (t) => {
  // Every resource some row names, plus the ones a leak would matter most for.
  const resources = new Map<string, string>([...KUBE_ACCESS.map((r) => [`${r.group}/${r.resource}`, r.group] as const), ['/secrets', ''], ['/configmaps', ''], ['apps/deployments', 'apps']]);
  const components = Object.keys(COMPONENT_SERVICE_ACCOUNTS) as Component[];
  for (const component of components) {
    const user = sa(NS, COMPONENT_SERVICE_ACCOUNTS[component]);
    let checked = 0;
    for (const [key, group] of resources) {
      const resource = key.slice(key.indexOf('/') + 1);
      for (const verb of ALL_VERBS) {
        for (const scope of ['cluster', 'release'] as const) {
          const namespace = scope === 'cluster' ? 'shop' : NS;
          // A row grants here when its scope covers the namespace (cluster rows cover every one).
          // The chart here renders the default provider (helm): the injector's own-certificate rows are not granted.
          const rows = KUBE_ACCESS.filter((r) => r.component === component && r.injectorSelfTlsOnly !== true && r.group === group && r.resource === resource && r.verbs.includes(verb) && r.scope !== 'gateway-tls' && (r.scope === 'cluster' || scope === 'release'));
          const unnamed = rows.some((r) => r.names === undefined);
          t.equal(may(user, verb, group, resource, namespace, verb === 'get' || verb === 'update' ? 'some-object' : undefined), unnamed, `${component}: ${verb} ${resource} in ${namespace}`);
          for (const r of rows.filter((x) => x.names !== undefined)) {
            for (const n of r.names ?? []) {
              const name = n === '<ca-secret>' ? 'weft-ca-issuer' : n;
              t.ok(may(user, verb, group, resource, namespace, name), `${component}: ${verb} ${resource} ${name} (limited by name)`);
            }
          }
          checked++;
        }
      }
    }
    t.ok(checked > 50, `${component}: ${checked} verb/resource/namespace cases`);
  }
});

t.test('weft destination may list and watch what it indexes, and get no single object', async (t) => {
  const destination = sa(NS, 'weft-destination');
  for (const [group, resource] of DISCOVERY) {
    t.ok(may(destination, 'list', group, resource), `list ${resource} cluster-wide`);
    t.ok(may(destination, 'watch', group, resource), `watch ${resource} cluster-wide`);
    t.notOk(may(destination, 'get', group, resource, 'shop', 'x'), `get ${resource}`);
  }
  t.notOk(may(destination, 'get', '', 'secrets', 'shop', 'x'), 'no Secret');
});

t.test("the injector points every proxy at the weft-destination Service and its ServiceAccount's identity", async (t) => {
  const docs = helmTemplate({}, { namespace: NS }).docs as (KubeObject & { spec?: Record<string, unknown> })[];
  const injector = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'weft-injector');
  const containers = ((injector?.spec?.['template'] as { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } | undefined)?.spec?.containers ?? []);
  const env = Object.fromEntries((containers[0]?.env ?? []).map((e) => [e.name, e.value]));
  const service = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'weft-destination');
  const port = (service?.spec?.['ports'] as { port: number }[] | undefined)?.[0]?.port;
  t.equal(env['WEFT_DESTINATION_ADDR'], `weft-destination.${NS}.svc:${port}`);
  t.equal(env['WEFT_DESTINATION_IDENTITY'], `spiffe://cluster.local/ns/${NS}/sa/weft-destination`);
  const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'weft-destination');
  t.equal((deployment?.spec?.['template'] as { spec?: { serviceAccountName?: string } } | undefined)?.spec?.serviceAccountName, 'weft-destination');
});
