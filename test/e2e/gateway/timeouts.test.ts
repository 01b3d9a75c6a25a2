// Route timeouts on the real gateway: `timeouts.request: 0s` disables the timeout (the gateway's
// default does not apply), while a rule without timeouts gets the default and one with a shorter
// request timeout gets that.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayMesh, echoed, request } from '../../support/gateway-mesh.js';

const route = (name: string, timeouts: string): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [${name}.test]
  rules:
    - backendRefs: [{ name: v1, port: 80 }]${timeouts ? `\n      timeouts: ${timeouts}` : ''}
`;

t.test('timeouts.request: 0s disables the timeout; no timeouts means the default', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('v1');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(
    file,
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
${route('untimed', '{ request: 0s }')}${route('defaulted', '')}${route('short', '{ request: 300ms }')}`,
  );
  const gw = await mesh.startGateway(file, { WEFT_GATEWAY_DEFAULT_TIMEOUT_MS: '1000' });
  const slow = (host: string, ms: number): Promise<{ status: number; body: string; headers: Record<string, unknown> }> => request(`${gw.http}/?sleepMs=${ms}`, { headers: { host } });
  const [untimed, defaulted, short] = await Promise.all([slow('untimed.test', 1800), slow('defaulted.test', 1800), slow('short.test', 800)]);
  t.equal(untimed.status, 200, 'request: 0s: a 1.8 s answer arrives although the default is 1 s');
  t.ok(echoed(untimed.body));
  t.equal(defaulted.status, 504, 'no timeouts: the 1 s default applies');
  t.equal(defaulted.headers['weft-error'], 'WEFT_ERR_TIMEOUT');
  t.equal(short.status, 504, 'request: 300ms applies');
});
