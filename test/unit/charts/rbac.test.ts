import t from 'tap';
import { PRODUCTION_FOLDERS } from '../../support/source-tree.js';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { helmTemplate } from './helm.js';
import { KUBE_ACCESS, type Component } from '../../../lib/kube/access.js';

const root = new URL('../../../', import.meta.url).pathname;
const NS = 'weft-system';

interface Rule { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] }
interface Obj { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[]; roleRef?: { kind: string; name: string }; subjects?: { kind: string; name: string; namespace?: string }[] }

/** "component scope group resource verb name" for every permission the rendered chart grants. */
function granted(values: Record<string, unknown>): { grants: Set<string> } {
  const objs = helmTemplate(values, { namespace: NS }).docs as unknown as Obj[];
  const roles = new Map(objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole').map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
  const grants = new Set<string>();
  for (const b of objs.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    const scope = b.kind === 'ClusterRoleBinding' ? 'cluster' : (b.metadata.namespace ?? '?');
    const role = roles.get(`${b.roleRef?.kind}/${b.roleRef?.kind === 'Role' ? b.metadata.namespace : ''}/${b.roleRef?.name}`);
    if (!role) throw new Error(`${b.kind} ${b.metadata.name} binds a role the chart does not define`);
    for (const s of b.subjects ?? []) {
      let component: string;
      // Only weft's own ServiceAccounts: no group (system:serviceaccounts) gains anything from the chart.
      if (s.kind === 'ServiceAccount' && s.namespace === NS) component = s.name.replace(/^weft-/, '');
      else throw new Error(`unexpected subject ${JSON.stringify(s)}`);
      for (const r of role.rules ?? []) {
        for (const g of r.apiGroups ?? []) for (const res of r.resources ?? []) for (const v of r.verbs ?? []) {
          for (const n of r.resourceNames ?? ['*']) grants.add(`${component} ${scope} ${g} ${res} ${v} ${n}`);
        }
      }
    }
  }
  return { grants };
}

/** The same strings, from lib/kube/access.ts, for the given trust mode and TLS Secrets. */
function expected(opts: { generatedTrust: boolean; caSecret: string; tlsSecrets: { namespace: string; name: string }[]; gateway: boolean; injectorSelfTls?: boolean }): Set<string> {
  const out = new Set<string>();
  for (const a of KUBE_ACCESS) {
    if (a.generatedTrustOnly && !opts.generatedTrust) continue;
    if (a.injectorSelfTlsOnly && opts.injectorSelfTls !== true) continue;
    if (a.component === 'gateway' && !opts.gateway) continue;
    const places: { scope: string; names: readonly string[] }[] =
      a.scope === 'gateway-tls'
        ? opts.tlsSecrets.map((s) => ({ scope: s.namespace, names: [s.name] }))
        : [{ scope: a.scope === 'cluster' ? 'cluster' : NS, names: (a.names ?? ['*']).map((n) => (n === '<ca-secret>' ? opts.caSecret : n)) }];
    for (const p of places) for (const v of a.verbs) for (const n of p.names) out.add(`${a.component} ${p.scope} ${a.group} ${a.resource} ${v} ${n}`);
  }
  return out;
}

const sorted = (s: Set<string>): string[] => [...s].sort();

t.test('with default values the chart grants exactly the table (generated trust)', async (t) => {
  const { grants } = granted({});
  t.same(sorted(grants), sorted(expected({ generatedTrust: true, caSecret: 'weft-ca-issuer', tlsSecrets: [], gateway: false })), 'the gateway is off by default');
  t.notOk([...grants].some((g) => g.startsWith('proxy ')), 'proxies are granted nothing');
  const withGateway = granted({ gateway: { enabled: true } }).grants;
  t.same(sorted(withGateway), sorted(expected({ generatedTrust: true, caSecret: 'weft-ca-issuer', tlsSecrets: [], gateway: true })));
});

t.test('with supplied trust and TLS Secrets the chart still grants exactly the table', async (t) => {
  const tlsSecrets = [{ namespace: 'edge', name: 'api-tls' }, { namespace: NS, name: 'www-tls' }];
  const pem = '-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n';
  const { grants } = granted({
    identity: { trustAnchorsPEM: pem, issuer: { existingSecret: 'issuer' } },
    gateway: { enabled: true, tlsSecrets },
  });
  t.same(sorted(grants), sorted(expected({ generatedTrust: false, caSecret: 'weft-ca-issuer', tlsSecrets, gateway: true })));
  const noGateway = granted({ gateway: { enabled: false } }).grants;
  t.same(sorted(noGateway), sorted(expected({ generatedTrust: true, caSecret: 'weft-ca-issuer', tlsSecrets: [], gateway: false })));
});

t.test("with injector.tls.provider injector the injector is granted its Secret and its webhook configuration by name, and nothing else", async (t) => {
  const { grants } = granted({ injector: { tls: { provider: 'injector' } } });
  t.same(sorted(grants), sorted(expected({ generatedTrust: true, caSecret: 'weft-ca-issuer', tlsSecrets: [], gateway: false, injectorSelfTls: true })));
  t.same([...grants].filter((g) => g.startsWith('injector ')).sort(), [
    'injector cluster admissionregistration.k8s.io mutatingwebhookconfigurations get weft-injector',
    'injector cluster admissionregistration.k8s.io mutatingwebhookconfigurations patch weft-injector',
    `injector ${NS}  secrets get weft-injector-self-tls`,
    `injector ${NS}  secrets update weft-injector-self-tls`,
  ]);
  t.notOk([...granted({}).grants].some((g) => g.startsWith('injector ')), 'with the default provider the injector is granted nothing');
});

t.test('no rule uses wildcards, and nothing may read every Secret', async (t) => {
  const { grants } = granted({ gateway: { enabled: true, tlsSecrets: [{ namespace: 'edge', name: 'api-tls' }] } });
  for (const g of grants) {
    const [, , group, resource, verb, name] = g.split(' ');
    t.not(group, '*', g);
    t.not(resource, '*', g);
    t.not(verb, '*', g);
    if (resource === 'secrets' && verb !== 'create') t.not(name, '*', `${g} is limited by name`);
  }
});

// ---- the calls the code makes ----

/** Source folders whose API calls run under one component's identity. */
function componentsOf(file: string): readonly Component[] | 'injector' | 'any' {
  if (file.startsWith('ca/') || file === 'cli/ca.ts') return ['ca'];
  // Only the webhook certificate it makes itself (provider injector) calls the API; `weft inject` never.
  if (file === 'injector/webhook-cert.ts' || file === 'cli/injector.ts') return ['injector'];
  if (file.startsWith('injector/') || file === 'cli/inject.ts') return 'injector';
  if (file.startsWith('gateway/') || file === 'cli/gateway.ts') return ['gateway'];
  if (file.startsWith('destination/') || file === 'cli/destination.ts') return ['destination'];
  // The proxy holds no API credentials: any call in its code is granted to nobody.
  if (file.startsWith('proxy/') || file === 'cli/proxy.ts') return [];
  // Of the mesh core, only the gateway's own discovery (kube-endpoint-source.ts) calls the API.
  if (file.startsWith('mesh/')) return ['gateway'];
  return 'any';
}

const KIND_TO_RESOURCE: Readonly<Record<string, string>> = {
  TokenReview: 'tokenreviews', Secret: 'secrets', ConfigMap: 'configmaps', EndpointSlice: 'endpointslices', Service: 'services', Pod: 'pods',
  Namespace: 'namespaces', Ingress: 'ingresses', SubjectAccessReview: 'subjectaccessreviews', SelfSubjectAccessReview: 'selfsubjectaccessreviews',
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations', Deployment: 'deployments',
};
const METHOD_VERB: Readonly<Record<string, string>> = { create: 'create', read: 'get', replace: 'update', patch: 'patch', delete: 'delete', list: 'list' };

interface Call { file: string; resource: string; verb?: string; text: string }

/** API calls found in one source file: REST paths and @kubernetes/client-node methods. */
function callsIn(file: string, src: string): Call[] {
  const calls: Call[] = [];
  for (const m of src.matchAll(/['"`]\/api\/v1\/(?:namespaces\/(?:\$\{[^}]+\}|[^/'"`]+)\/)?([a-z]+)/g)) calls.push({ file, resource: m[1] as string, text: m[0] });
  for (const m of src.matchAll(/['"`]\/apis\/([a-z0-9.-]+)\/v[0-9a-z]+\/(?:namespaces\/(?:\$\{[^}]+\}|[^/'"`]+)\/)?([a-z]+)/g)) calls.push({ file, resource: m[2] as string, text: m[0] });
  // lib/kube's resourcePath({ group, version, resource[, subresource] }) shape.
  for (const m of src.matchAll(/\bresource:\s*['"]([a-z]+)['"](?:,\s*subresource:\s*['"]([a-z]+)['"])?/g)) calls.push({ file, resource: m[2] ? `${m[1]}/${m[2]}` : (m[1] as string), text: m[0] });
  for (const m of src.matchAll(/\.(create|read|replace|patch|delete|list)(Namespaced)?([A-Z][A-Za-z]+?)(ForAllNamespaces)?\(/g)) {
    const resource = KIND_TO_RESOURCE[m[3] as string];
    if (resource) calls.push({ file, resource, verb: METHOD_VERB[m[1] as string], text: m[0] });
  }
  return calls;
}

function sources(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(sources(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// `weft check` runs as the person using it (access reviews, reading pods); it is not a component.
const NOT_A_COMPONENT = [/^cli\/check/, /^check\//, /^lib\/kube\/access\.ts$/];

t.test('the path and method scanner finds the call shapes the code uses', async (t) => {
  const found = callsIn('x.ts', [
    "watch('/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices', q)",
    'get(`/api/v1/namespaces/${ns}/secrets/${name}`)',
    "post('/apis/authentication.k8s.io/v1/tokenreviews')",
    'api.readNamespacedConfigMap({ name, namespace })',
    'authn.createTokenReview({ body })',
    "client.request('POST', resourcePath({ group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews' }))",
  ].join('\n'));
  t.same(found.map((c) => `${c.resource}:${c.verb ?? ''}`), ['secrets:', 'endpointslices:', 'tokenreviews:', 'tokenreviews:', 'configmaps:get', 'tokenreviews:create']);
});

t.test('every API call in the code is granted to the component that makes it, and the injector only for its own certificate', async (t) => {
  const files = PRODUCTION_FOLDERS.flatMap((d) => sources(join(root, d))).map((p) => relative(root, p));
  const calls = files.filter((f) => !NOT_A_COMPONENT.some((re) => re.test(f))).flatMap((f) => callsIn(f, readFileSync(join(root, f), 'utf8')));
  t.comment(`found ${calls.length} API calls in ${files.length} source files: ${calls.map((c) => `${c.file} ${c.resource}`).join(', ')}`);
  for (const c of calls) {
    const who = componentsOf(c.file);
    if (who === 'injector') {
      t.fail(`${c.file}: ${c.text}: only injector/webhook-cert.ts may call the API for the injector (add a row to lib/kube/access.ts and the chart)`);
      continue;
    }
    const allowed = KUBE_ACCESS.filter((a) => a.resource === c.resource && (c.verb === undefined || a.verbs.includes(c.verb as never)));
    const ok = who === 'any' ? allowed.length > 0 : who.some((comp) => allowed.some((a) => a.component === comp));
    t.ok(ok, `${c.file}: ${c.text} (${c.verb ?? 'any verb'} ${c.resource}) is granted to ${who === 'any' ? 'some component' : who.join(' or ')}`);
  }
  // The other direction: a granted row whose resource no code touches is a permission to remove.
  const touched = new Set(calls.map((c) => c.resource));
  const components: Component[] = ['ca', 'destination', 'gateway', 'injector'];
  for (const comp of components) {
    // Shared code (lib/) counts as touching a resource, but only the component's own folders
    // show that its code has landed: until then its rows are checked against the chart only.
    const own = calls.filter((c) => { const w = componentsOf(c.file); return w !== 'injector' && w !== 'any' && w.includes(comp); });
    if (own.length === 0) {
      t.comment(`no API calls found yet in ${comp}'s own code; its rows are checked against the chart only`);
      continue;
    }
    for (const a of KUBE_ACCESS.filter((x) => x.component === comp)) {
      t.ok(touched.has(a.resource), `${comp} is granted ${a.resource} (${a.why}) and the code uses it`);
    }
  }
});
