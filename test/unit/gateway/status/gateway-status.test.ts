// The status core: each Gateway, listener and HTTPRoute parentRef gets the Gateway API condition
// and reason its situation calls for, with observedGeneration, from plain objects.
import t from 'tap';
import { computeStatuses, type ObjectStatus } from '../../../../gateway/status/gateway-status.js';
import { readResources } from '../../../../gateway/routes/resources.js';
import { buildState } from '../../../../gateway/state.js';

const GW = 'gateway.networking.k8s.io/v1';
const gateway = {
  apiVersion: GW,
  kind: 'Gateway',
  metadata: { name: 'edge', namespace: 'shop', generation: 3 },
  spec: {
    gatewayClassName: 'weft',
    listeners: [
      { name: 'http', port: 80, protocol: 'HTTP', hostname: '*.example.com' },
      { name: 'same', port: 80, protocol: 'HTTP', hostname: '*.example.com' },
      { name: 'https', port: 443, protocol: 'HTTPS', hostname: 'secure.example.com', tls: { certificateRefs: [{ name: 'missing' }] } },
    ],
  },
};
const route = (name: string, spec: Record<string, unknown>, generation = 1): Record<string, unknown> => ({ apiVersion: GW, kind: 'HTTPRoute', metadata: { name, namespace: 'shop', generation }, spec });
const backend = { backendRefs: [{ name: 'web', port: 80 }] };

function statuses(objects: Record<string, unknown>[], serviceElsewhere?: (namespace: string, name: string) => boolean): ObjectStatus[] {
  const raw: unknown[] = objects;
  const parsed = readResources(raw, 'test');
  const built = buildState(parsed, 'test', 1, () => '', { perObject: true });
  if ('problems' in built) throw new Error('unexpected');
  return computeStatuses({ resources: parsed.resources, conditions: built.state.conditions, objects: raw, addresses: ['10.0.0.7'], ...(serviceElsewhere ? { serviceElsewhere } : {}) });
}

const find = (all: ObjectStatus[], kind: string, name: string): ObjectStatus | undefined => all.find((s) => s.kind === kind && s.name === name);
type Parent = { parentRef: Record<string, unknown>; conditions: { type: string; status: string; reason: string; observedGeneration?: number }[] };
const parents = (s: ObjectStatus | undefined): Parent[] => (s?.status.parents ?? []) as Parent[];
const reason = (p: Parent | undefined, type: string): string => `${p?.conditions.find((c) => c.type === type)?.status} ${p?.conditions.find((c) => c.type === type)?.reason}`;

t.test('each parentRef of a route gets the reason of its situation', async (t) => {
  const all = statuses([
    gateway,
    route('ok', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames: ['a.example.com'], rules: [backend] }, 4),
    route('no-parent', { parentRefs: [{ name: 'nowhere' }, { name: 'edge', sectionName: 'nope' }], rules: [backend] }),
    route('other-host', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames: ['a.other.org'], rules: [backend] }),
    route('cross-ns', { parentRefs: [{ name: 'edge' }], hostnames: ['b.example.com'], rules: [{ backendRefs: [{ name: 'db', namespace: 'vault', port: 80 }] }] }),
    route('bad-kind', { parentRefs: [{ name: 'edge' }], hostnames: ['c.example.com'], rules: [{ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'b' }] }] }),
    route('unsupported', { parentRefs: [{ name: 'edge' }], rules: [{ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Magic', name: 'm' } }], ...backend }] }, 7),
  ]);
  const ok = parents(find(all, 'HTTPRoute', 'ok'));
  t.same(ok[0]?.parentRef, { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'shop', name: 'edge', sectionName: 'http' }, 'the parentRef is echoed with defaults');
  t.equal(reason(ok[0], 'Accepted'), 'True Accepted');
  t.equal(reason(ok[0], 'ResolvedRefs'), 'True ResolvedRefs');
  t.equal(ok[0]?.conditions[0]?.observedGeneration, 4, 'observedGeneration is the route generation');
  const np = parents(find(all, 'HTTPRoute', 'no-parent'));
  t.equal(reason(np[0], 'Accepted'), 'False NoMatchingParent', 'a Gateway that does not exist');
  t.equal(reason(np[1], 'Accepted'), 'False NoMatchingParent', 'a sectionName no listener has');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'other-host'))[0], 'Accepted'), 'False NoMatchingListenerHostname');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'cross-ns'))[0], 'ResolvedRefs'), 'False RefNotPermitted');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'cross-ns'))[0], 'Accepted'), 'True Accepted', 'an unresolved backend does not stop acceptance');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'bad-kind'))[0], 'ResolvedRefs'), 'False InvalidKind');
  const un = parents(find(all, 'HTTPRoute', 'unsupported'));
  t.equal(reason(un[0], 'Accepted'), 'False UnsupportedValue', 'a rejected route says why, alone');
  t.match(un[0]?.conditions[0], { observedGeneration: 7, message: /ExtensionRef filters are not supported/ });
});

t.test('a Gateway reports its listeners, conflicts, unresolved certificates and attached routes', async (t) => {
  const other = { ...gateway, metadata: { name: 'private', namespace: 'team' }, spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Same' } } }] } };
  const all = statuses([
    gateway,
    other,
    route('a', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames: ['a.example.com'], rules: [backend] }),
    route('b', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames: ['b.example.com'], rules: [backend] }),
    route('denied', { parentRefs: [{ name: 'private', namespace: 'team' }], rules: [backend] }),
  ]);
  const g = find(all, 'Gateway', 'edge');
  t.same(g?.status.addresses, [{ type: 'IPAddress', value: '10.0.0.7' }]);
  t.match(g?.status.conditions, [{ type: 'Accepted', status: 'True', observedGeneration: 3 }, { type: 'Programmed', status: 'True' }]);
  const listeners = g?.status.listeners as { name: string; attachedRoutes: number; conditions: { type: string; status: string; reason: string }[] }[];
  const l = (name: string, type: string): string => {
    const c = listeners.find((x) => x.name === name)?.conditions.find((x) => x.type === type);
    return `${c?.status} ${c?.reason}`;
  };
  t.equal(listeners.find((x) => x.name === 'http')?.attachedRoutes, 2, 'two routes attach to the http listener');
  t.equal(l('http', 'Conflicted'), 'True HostnameConflict', 'two listeners with one port and hostname conflict');
  t.equal(l('https', 'Conflicted'), 'False NoConflicts');
  t.equal(l('https', 'ResolvedRefs'), 'False InvalidCertificateRef', 'a missing certificate Secret');
  t.equal(l('https', 'Programmed'), 'False Invalid');
  t.equal(l('http', 'Programmed'), 'True Programmed');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'denied'))[0], 'Accepted'), 'False NotAllowedByListeners', 'allowedRoutes from Same refuses another namespace');
});

t.test('a rejected Gateway is not accepted, with its reasons; another class is left alone', async (t) => {
  const bad = { ...gateway, spec: { gatewayClassName: 'weft', listeners: [{ name: 'x', port: 80, protocol: 'HTTP', weight: 1 }] } };
  const foreign = { ...gateway, metadata: { name: 'theirs', namespace: 'shop' }, spec: { gatewayClassName: 'other', listeners: [{ name: 'x', port: 80, protocol: 'TLS' }] } };
  const all = statuses([bad, foreign]);
  t.match(find(all, 'Gateway', 'edge')?.status.conditions, [{ type: 'Accepted', status: 'False', reason: 'Invalid', message: /weight: unknown field/ }, { type: 'Programmed', status: 'False' }]);
  t.equal(find(all, 'Gateway', 'theirs'), undefined);
});

t.test('a listener of a protocol weft does not serve is not accepted alone; the Gateway and its other listeners serve', async (t) => {
  const mixed = {
    ...gateway,
    spec: {
      gatewayClassName: 'weft',
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP' },
        { name: 'tls', port: 443, protocol: 'TLS', tls: { mode: 'Passthrough' }, allowedRoutes: { namespaces: { from: 'Same' }, kinds: [{ kind: 'TLSRoute' }] } },
        { name: 'tcp', port: 5432, protocol: 'TCP' },
      ],
    },
  };
  const tlsOnly = { ...gateway, metadata: { name: 'tlsroutes-only', namespace: 'shop', generation: 2 }, spec: { gatewayClassName: 'weft', listeners: [{ name: 'tls', port: 443, protocol: 'TLS', tls: { mode: 'Passthrough' }, allowedRoutes: { kinds: [{ kind: 'TLSRoute' }] } }] } };
  const objects = [
    mixed,
    tlsOnly,
    route('to-tls', { parentRefs: [{ name: 'edge', sectionName: 'tls' }], rules: [backend] }),
    route('to-edge', { parentRefs: [{ name: 'edge' }], hostnames: ['a.example.com'], rules: [backend] }),
    route('disallowed-kind', { parentRefs: [{ name: 'tlsroutes-only' }], rules: [backend] }),
  ];
  t.same(readResources(objects, 'test').problems, [], 'the Gateway is not refused for its TLS listener');
  const all = statuses(objects);

  t.equal(reason(parents(find(all, 'HTTPRoute', 'disallowed-kind'))[0], 'Accepted'), 'False NotAllowedByListeners', 'a Gateway whose only listener is TLS does not admit an HTTPRoute');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'disallowed-kind'))[0], 'ResolvedRefs'), 'True ResolvedRefs');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'to-tls'))[0], 'Accepted'), 'False NotAllowedByListeners', 'a sectionName naming the TLS listener');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'to-edge'))[0], 'Accepted'), 'True Accepted', 'a route of the Gateway attaches to its HTTP listener');

  type Listener = { name: string; attachedRoutes: number; supportedKinds: unknown[]; conditions: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[] };
  const edge = find(all, 'Gateway', 'edge');
  const listeners = edge?.status.listeners as Listener[];
  const l = (name: string, type: string): string => {
    const c = listeners.find((x) => x.name === name)?.conditions.find((x) => x.type === type);
    return `${c?.status} ${c?.reason}`;
  };
  t.equal(l('tls', 'Accepted'), 'False UnsupportedProtocol');
  t.equal(l('tls', 'Programmed'), 'False Invalid');
  t.equal(l('tls', 'ResolvedRefs'), 'False InvalidRouteKinds', 'TLSRoute is listed but not served');
  t.equal(l('tls', 'Conflicted'), 'False NoConflicts');
  t.equal(l('tcp', 'Accepted'), 'False UnsupportedProtocol');
  t.equal(l('tcp', 'ResolvedRefs'), 'True ResolvedRefs', 'no kinds listed, none refused');
  t.match(listeners.find((x) => x.name === 'tcp')?.conditions[0], { message: /protocol TCP is not served/, observedGeneration: 3 });
  t.same(listeners.find((x) => x.name === 'tls')?.supportedKinds, [], 'an unsupported listener supports no kind');
  t.equal(listeners.find((x) => x.name === 'tls')?.attachedRoutes, 0);
  t.equal(l('http', 'Accepted'), 'True Accepted');
  t.equal(l('http', 'Programmed'), 'True Programmed');
  t.equal(listeners.find((x) => x.name === 'http')?.attachedRoutes, 1);
  t.match(edge?.status.conditions, [{ type: 'Accepted', status: 'True', reason: 'ListenersNotValid', message: /"tls", "tcp"/ }, { type: 'Programmed', status: 'True', reason: 'Programmed' }]);

  const only = find(all, 'Gateway', 'tlsroutes-only');
  t.match(only?.status.conditions, [{ type: 'Accepted', status: 'True', reason: 'ListenersNotValid' }, { type: 'Programmed', status: 'False', reason: 'Invalid' }], 'accepted, but nothing of it is served');
  t.same((only?.status.listeners as Listener[]).map((x) => x.attachedRoutes), [0], 'no route attaches');
});

t.test('the route table serves the HTTP listener of a Gateway that also has a TLS listener, and nothing on the TLS one', async (t) => {
  const objects = [
    { ...gateway, spec: { gatewayClassName: 'weft', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }, { name: 'tls', port: 443, protocol: 'TLS', tls: { mode: 'Passthrough' } }] } },
    route('web', { parentRefs: [{ name: 'edge' }], rules: [backend] }),
  ];
  const parsed = readResources(objects, 'test');
  const built = buildState(parsed, 'test', 1, () => '', { perObject: true });
  if ('problems' in built) return t.fail(`refused: ${built.problems.join('; ')}`);
  const req = { host: 'a.example.com', path: '/', method: 'GET', headers: {}, query: new URLSearchParams() };
  t.match(built.state.table.lookup('HTTP', req), { kind: 'matched', listener: { name: 'http', port: 80 } });
  t.equal(built.state.table.lookup('HTTPS', req).kind, 'no-route', 'no HTTPS entry comes from the TLS listener');
  t.match(built.state.table.warnings, [/listener "tls": protocol TLS is not served/]);
});

t.test('a listener protocol that is not a protocol name still refuses the Gateway', async (t) => {
  const bad = { ...gateway, spec: { gatewayClassName: 'weft', listeners: [{ name: 'x', port: 80, protocol: 'not a protocol!' }] } };
  t.match(readResources([bad], 'test').problems, [/spec\.listeners\[0\]\.protocol: "not a protocol!" is not a protocol name/]);
});

t.test('a backendRef to a Service that does not exist is BackendNotFound, naming it, when the gateway knows every Service', async (t) => {
  const service = (name: string): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { ports: [{ port: 80 }] } });
  const objects = [
    gateway,
    service('web'),
    route('declared', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames: ['a.example.com'], rules: [backend] }),
    route('listed', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames: ['b.example.com'], rules: [{ backendRefs: [{ name: 'api', port: 80 }] }] }),
    route('missing', { parentRefs: [{ name: 'edge', sectionName: 'http' }], hostnames: ['c.example.com'], rules: [backend, { backendRefs: [{ name: 'ghost', port: 8080 }] }] }, 5),
  ];
  // The endpoints file (local mode) names `api`; `ghost` is nowhere.
  const all = statuses(objects, (ns, name) => ns === 'shop' && name === 'api');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'declared'))[0], 'ResolvedRefs'), 'True ResolvedRefs', 'a Service object read with the routes exists');
  t.equal(reason(parents(find(all, 'HTTPRoute', 'listed'))[0], 'ResolvedRefs'), 'True ResolvedRefs', 'a Service known elsewhere exists');
  const missing = parents(find(all, 'HTTPRoute', 'missing'))[0];
  t.equal(reason(missing, 'ResolvedRefs'), 'False BackendNotFound');
  t.match(missing?.conditions.find((c) => c.type === 'ResolvedRefs'), { message: 'Service shop/ghost does not exist', observedGeneration: 5 });
  t.equal(reason(missing, 'Accepted'), 'True Accepted', 'the route is still accepted (its other rules serve)');
  const unknown = statuses(objects);
  t.equal(reason(parents(find(unknown, 'HTTPRoute', 'missing'))[0], 'ResolvedRefs'), 'True ResolvedRefs', 'without knowing every Service, nothing is called missing');
});
