// `weft up` with the example's authorization section: the sidecars enforce it (asked through
// /debug/authz by --check), and a demo app ignores a weft-client-id sent past its sidecar.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_MAIN, randomBase } from '../support/local-mesh.js';

const dir = await mkdtemp(join(tmpdir(), 'weft-up-authz-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const base = randomBase();
const meshFile = join(dir, 'mesh.yaml');
await writeFile(
  meshFile,
  `namespace: demo
addressBase: "${base}"
caDir: ${dir}/ca
stateDir: ${dir}/state
client:
  outbound: "${base}.250:7001"
services:
  - { name: hello, replicas: 1, port: 80, targetPort: 8080 }
  - { name: greeter, replicas: 1, port: 80, targetPort: 8080 }
authorization:
  namespaces:
    demo: { defaultInboundPolicy: deny }
  policies:
    - metadata: { name: hello-admin }
      spec:
        selector: { matchLabels: { app: hello } }
        rules:
          - from: { serviceAccounts: [client] }
`,
);

function up(file: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WEFT_MAIN, 'up', '-f', file, '--check']);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

t.test('weft up --check: policies from the mesh file decide, forged caller headers are ignored', async (t) => {
  const out = await up(meshFile);
  // greeter's namespace default is deny, so the client's checks against it fail: exit 1, reported.
  t.match(out.stdout, /check hello: ok: 10\/10 answered/);
  t.match(out.stdout, /check greeter: FAILED: 0\/10 answered/);
  t.match(out.stdout, /check hello app: ok: a weft-client-id sent past the sidecar is ignored \(caller null\)/);
  t.match(out.stdout, /authz hello: GET \/admin: client allowed by demo\/hello-admin rule 0; intruder denied by no-allow-match/);
  t.match(out.stdout, /authz greeter: GET \/admin: client denied by default:deny; intruder denied by default:deny/);
  t.equal(out.code, 1);
});

t.test('weft up refuses a bad authorization section with WEFT_ERR_MESH_FILE naming the field', async (t) => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, `namespace: demo\naddressBase: "${base}"\nservices: [{ name: hello }]\nauthorization:\n  policies:\n    - metadata: { name: x }\n      spec: { action: PERMIT, rules: [] }\n`);
  const out = await up(bad);
  t.equal(out.code, 2);
  t.match(out.stdout, /WEFT_ERR_MESH_FILE[\s\S]*spec\.action: expected ALLOW, DENY or AUDIT/);
});
