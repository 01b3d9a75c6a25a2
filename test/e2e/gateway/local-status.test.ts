// Gateway API status in local mode: a real `weft gateway` on a route file with a good route, a
// route whose hostnames match no listener and a route rejected for an unsupported filter shows the
// same conditions kubernetes mode writes on its admin port (GET /debug/status), and
// `weft gateway status` (a real process) prints them; a Gateway with a TLS listener serves its
// HTTP listener and reports the TLS one UnsupportedProtocol.
import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, WEFT_MAIN, request } from '../../support/gateway-mesh.js';

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP, hostname: "*.test" }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [app.test]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: elsewhere, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [app.example.org]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: magic, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [magic.test]
  rules: [{ filters: [{ type: ExtensionRef, extensionRef: { group: example.com, kind: Magic, name: m } }], backendRefs: [{ name: v1, port: 80 }] }]
`;

type Cond = { type: string; status: string; reason: string; message: string };
type Status = { kind: string; name: string; status: { conditions?: Cond[]; listeners?: { name: string; attachedRoutes: number; conditions: Cond[] }[]; parents?: { conditions: Cond[] }[] } };

t.test('the admin port and `weft gateway status` show each object with its conditions', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, ROUTES);
  const gw = await mesh.startGateway(file);
  t.equal((await request(`${gw.http}/`, { headers: { host: 'app.test' } })).status, 200, 'the good route serves');

  const { statuses } = JSON.parse((await request(`${gw.admin}/debug/status`)).body) as { statuses: Status[] };
  const of = (kind: string, name: string): Status | undefined => statuses.find((s) => s.kind === kind && s.name === name);
  const accepted = (name: string): string => {
    const c = of('HTTPRoute', name)?.status.parents?.[0]?.conditions.find((x) => x.type === 'Accepted');
    return `${c?.status} ${c?.reason}`;
  };
  t.equal(accepted('app'), 'True Accepted');
  t.equal(accepted('elsewhere'), 'False NoMatchingListenerHostname');
  t.equal(accepted('magic'), 'False UnsupportedValue', 'the rejected route is there alone, with its reason');
  t.match(of('HTTPRoute', 'magic')?.status.parents?.[0]?.conditions[0]?.message, /spec\.rules\[0\]\.filters\[0\]: ExtensionRef filters are not supported/);
  t.match(of('Gateway', 'edge')?.status.conditions, [{ type: 'Accepted', status: 'True' }, { type: 'Programmed', status: 'True' }]);
  t.equal(of('Gateway', 'edge')?.status.listeners?.[0]?.attachedRoutes, 1);

  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [WEFT_MAIN, 'gateway', 'status', '--admin', gw.admin.replace(/^http:\/\//, '')], { env: { PATH: process.env.PATH ?? '' } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  t.equal(out.code, 0, out.stderr);
  t.match(out.stdout, /^Gateway test\/edge: Accepted=True \(Accepted\) Programmed=True \(Programmed\)$/m);
  t.match(out.stdout, /^ {2}listener http: attachedRoutes=1 Accepted=True \(Accepted\) Conflicted=False \(NoConflicts\) ResolvedRefs=True \(ResolvedRefs\) Programmed=True \(Programmed\)$/m);
  t.match(out.stdout, /^HTTPRoute test\/app\n {2}parent Gateway test\/edge: Accepted=True \(Accepted\) ResolvedRefs=True \(ResolvedRefs\)$/m);
  t.match(out.stdout, /^HTTPRoute test\/magic\n {2}parent Gateway test\/edge: Accepted=False \(UnsupportedValue\) ResolvedRefs=False \(UnsupportedValue\)\n {4}Accepted: rejected: spec\.rules\[0\]\.filters\[0\]: ExtensionRef filters are not supported/m);
  t.match(out.stdout, /parent Gateway test\/edge: Accepted=False \(NoMatchingListenerHostname\)/);

  const bad = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [WEFT_MAIN, 'gateway', 'status', '--admin', '127.0.0.1:1'], { env: { PATH: process.env.PATH ?? '' } }, (err, _o, stderr) => resolve({ code: Number((err as { code?: number } | null)?.code ?? 0), stderr }));
  });
  t.equal(bad.code, 2, 'an unreachable admin port exits 2');
  t.match(bad.stderr, /WEFT_ERR_CONFIG: cannot reach the gateway's admin port at 127\.0\.0\.1:1/);
});

const MIXED = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: mixed, namespace: test }
spec:
  gatewayClassName: weft
  listeners:
  - { name: http, port: 80, protocol: HTTP }
  - { name: tls, port: 443, protocol: TLS, tls: { mode: Passthrough }, allowedRoutes: { kinds: [{ kind: TLSRoute }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app, namespace: test }
spec:
  parentRefs: [{ name: mixed }]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: to-tls, namespace: test }
spec:
  parentRefs: [{ name: mixed, sectionName: tls }]
  rules: [{ backendRefs: [{ name: v1, port: 80 }] }]
`;

t.test('a Gateway with a TLS listener serves its HTTP listener and reports the TLS one UnsupportedProtocol', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, MIXED);
  const gw = await mesh.startGateway(file);
  t.equal((await request(`${gw.http}/`, { headers: { host: 'app.test' } })).status, 200, 'the HTTP listener serves its route');

  const { statuses } = JSON.parse((await request(`${gw.admin}/debug/status`)).body) as { statuses: Status[] };
  const g = statuses.find((s) => s.kind === 'Gateway' && s.name === 'mixed');
  t.match(g?.status.conditions, [{ type: 'Accepted', status: 'True', reason: 'ListenersNotValid' }, { type: 'Programmed', status: 'True' }]);
  const tls = g?.status.listeners?.find((l) => l.name === 'tls');
  t.match(tls, { attachedRoutes: 0, conditions: [{ type: 'Accepted', status: 'False', reason: 'UnsupportedProtocol' }] });
  t.same((tls as { supportedKinds?: unknown } | undefined)?.supportedKinds, [], 'the TLS listener supports no route kind');
  t.match(tls?.conditions.find((c) => c.type === 'Programmed'), { status: 'False', reason: 'Invalid' });
  t.equal(g?.status.listeners?.find((l) => l.name === 'http')?.attachedRoutes, 1);
  const accepted = (name: string): Cond | undefined => statuses.find((s) => s.kind === 'HTTPRoute' && s.name === name)?.status.parents?.[0]?.conditions.find((c) => c.type === 'Accepted');
  t.match(accepted('app'), { status: 'True', reason: 'Accepted' });
  t.match(accepted('to-tls'), { status: 'False', reason: 'NotAllowedByListeners' }, 'a route naming only the TLS listener is not allowed there');
  const { warnings } = JSON.parse((await request(`${gw.admin}/debug/routes`)).body) as { warnings: string[] };
  t.ok(warnings.some((w) => /Gateway test\/mixed: listener "tls": protocol TLS is not served/.test(w)), 'the unserved listener is among the warnings');
});

t.test('a backendRef to a Service neither file names is BackendNotFound; the rest of the route serves', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  // v1 is in the endpoints file only; declared is a Service object in the route file only.
  await mesh.addService('v1');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(
    file,
    `${ROUTES.split('---')[0] ?? ''}---
apiVersion: v1
kind: Service
metadata: { name: declared, namespace: test }
spec: { ports: [{ port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [split.test]
  rules:
    - { matches: [{ path: { type: PathPrefix, value: /gone } }], backendRefs: [{ name: ghost, port: 80 }] }
    - { backendRefs: [{ name: v1, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: known, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [known.test]
  rules: [{ backendRefs: [{ name: v1, port: 80 }, { name: declared, port: 80, weight: 0 }] }]
`,
  );
  const gw = await mesh.startGateway(file);
  t.equal((await request(`${gw.http}/`, { headers: { host: 'split.test' } })).status, 200, 'the rule with an existing backend serves');
  const gone = await request(`${gw.http}/gone`, { headers: { host: 'split.test' } });
  t.equal(gone.status, 500, 'the missing backend answers 500');
  t.equal(gone.headers['weft-error'], 'WEFT_ERR_BACKEND_INVALID');

  const { statuses } = JSON.parse((await request(`${gw.admin}/debug/status`)).body) as { statuses: Status[] };
  const parentOf = (name: string): Cond[] => statuses.find((s) => s.kind === 'HTTPRoute' && s.name === name)?.status.parents?.[0]?.conditions ?? [];
  t.match(parentOf('split').find((c) => c.type === 'Accepted'), { status: 'True', reason: 'Accepted' });
  t.match(parentOf('split').find((c) => c.type === 'ResolvedRefs'), { status: 'False', reason: 'BackendNotFound', message: 'Service test/ghost does not exist' });
  t.match(parentOf('known').find((c) => c.type === 'ResolvedRefs'), { status: 'True', reason: 'ResolvedRefs' }, 'Services of the endpoints file and of the route file exist');
});
