// The probe contract end to end: the injector rewrites a pod's probes, and a real `weft proxy`
// started with the env the injector wrote replays them against a real app on /app-probe/.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { spawn } from 'node:child_process';
import { LocalMesh, WEFT_MAIN, get, randomBase } from '../support/local-mesh.js';
import { planInjection } from '../../injector/patch.js';
import { applyOperations } from '../../injector/json-patch.js';
import { DEFAULT_SETTINGS } from '../../injector/settings.js';
import { makeTestPki } from '../support/pki.js';

const base = randomBase();
const address = `${base}.1`;

let healthy = true;
const app: Server = createServer((req, res) => res.writeHead(req.url === '/healthz' && healthy ? 200 : 500).end());
await new Promise<void>((r) => app.listen(8080, address, r));
t.teardown(() => new Promise<void>((r) => app.close(() => r())));

const mesh = await LocalMesh.create();
t.teardown(() => mesh.close());
await mesh.setServices([{ name: 'web', port: 80, targetPort: 8080, pods: [{ name: 'web-1', address, serviceAccount: 'web' }] }]);

const pod = {
  metadata: { name: 'web-1' },
  spec: {
    containers: [
      {
        name: 'web',
        image: 'web',
        ports: [{ name: 'http', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
        livenessProbe: { tcpSocket: { port: 9999 }, timeoutSeconds: 1 },
      },
    ],
  },
};
// Any PEM will do here: only the probe env of the injected proxy is used below.
const trustAnchors = (await makeTestPki()).authority.root.toString('pem');
const plan = planInjection({ pod, namespace: 'test', namespaceInjection: 'enabled', settings: { ...DEFAULT_SETTINGS, trustAnchors } });
if (plan.kind !== 'injected') throw new Error('not injected');
const injected = applyOperations(pod, plan.patch) as unknown as {
  spec: { initContainers: { name: string; env: { name: string; value?: string }[] }[]; containers: { readinessProbe: { httpGet: { path: string } } }[] };
};
const proxyEnv = injected.spec.initContainers.find((c) => c.name === 'weft-proxy')?.env ?? [];
const appProbes = proxyEnv.find((e) => e.name === 'WEFT_APP_PROBES')?.value ?? '';
const probePath = injected.spec.containers[0]?.readinessProbe.httpGet.path ?? '';

t.test('a rewritten readiness probe reports the app\'s real state through the proxy', async (t) => {
  t.equal(probePath, '/app-probe/web/readiness');
  const proxy = await mesh.startProxy({ name: 'web-1', address, serviceAccount: 'web' }, { WEFT_APP_PROBES: appProbes });
  const up = await get(`${proxy.admin}${probePath}`);
  t.equal(up.status, 200, up.body);
  healthy = false;
  const down = await get(`${proxy.admin}${probePath}`);
  t.equal(down.status, 503);
  t.equal(down.headers['weft-error'], 'WEFT_ERR_APP_PROBE_FAILED');
  t.match(down.body, /HTTP GET :8080\/healthz failed: HTTP 500/);
  healthy = true;
  t.equal((await get(`${proxy.admin}${probePath}`)).status, 200, 'and back');
  const liveness = await get(`${proxy.admin}/app-probe/web/liveness`);
  t.equal(liveness.status, 503, 'the TCP probe to a closed port fails');
  t.match(liveness.body, /ECONNREFUSED/);
  t.equal((await get(`${proxy.admin}/app-probe/other/readiness`)).status, 404);
});

t.test('a malformed WEFT_APP_PROBES stops the proxy at start with WEFT_ERR_CONFIG', async (t) => {
  const child = spawn(process.execPath, [WEFT_MAIN, 'proxy'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      WEFT_MODE: 'local',
      WEFT_POD_NAME: 'x',
      WEFT_POD_NAMESPACE: 'test',
      WEFT_SERVICE_ACCOUNT: 'x',
      WEFT_CA_DIR: mesh.caDir,
      WEFT_ENDPOINTS_FILE: mesh.endpointsFile,
      WEFT_ADMIN_ADDR: `${base}.2:0`,
      WEFT_INBOUND_ADDR: `${base}.2:0`,
      WEFT_OUTBOUND_ADDR: `${base}.2:0`,
      WEFT_APP_PROBES: '{"web/readiness":{"tcpSocket":{"port":0}}}',
    },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  t.equal(code, 2);
  t.match(stderr, /WEFT_ERR_CONFIG: .*WEFT_APP_PROBES\["web\/readiness"\]\.tcpSocket\.port must be a port number/s);
});
