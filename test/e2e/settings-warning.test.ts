// A real `weft proxy` started with a misspelt variable: it starts anyway, and its log names the
// variable and the one it most likely meant; a variable of another component is not warned about;
// every line carries the pod's name.
import t from 'tap';
import { LocalMesh, randomBase, type PodSpec } from '../support/local-mesh.js';

const pod: PodSpec = { name: 'web-0', address: `${randomBase()}.1`, serviceAccount: 'web' };
const mesh = await LocalMesh.create();
t.teardown(() => mesh.close());
await mesh.setServices([]);

t.test('the proxy starts, warns about WEFT_LOG_LEVLE with a suggestion, and puts its pod name on every line', async (t) => {
  const proxy = await mesh.startProxy(pod, { WEFT_LOG_LEVLE: 'debug', WEFT_GATEWAY_ROUTES_FILE: '/routes.yaml' });
  const lines = (await proxy.log())
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; pod?: string; variable?: string; suggestion?: string });
  const warnings = lines.filter((l) => l.variable !== undefined);
  t.same(
    warnings.map((w) => ({ level: w.level, variable: w.variable, suggestion: w.suggestion, msg: w.msg })),
    [{ level: 40, variable: 'WEFT_LOG_LEVLE', suggestion: 'WEFT_LOG_LEVEL', msg: 'WEFT_LOG_LEVLE is not a weft setting and is ignored; did you mean WEFT_LOG_LEVEL?' }],
    "one warning, and none for the gateway's WEFT_GATEWAY_ROUTES_FILE",
  );
  t.ok(lines.length > 1, `${lines.length} log lines`);
  t.same([...new Set(lines.map((l) => l.pod))], ['web-0'], 'every line names the pod');
});
