// `weft up` as a newcomer runs it: the mesh comes up, curl through the client sidecar lands on a
// different replica per request with the client's identity, and Ctrl-C stops everything.
import t from 'tap';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_MAIN, randomBase } from '../support/local-mesh.js';
import { waitForOutput } from '../support/child-output.js';

const dir = await mkdtemp(join(tmpdir(), 'weft-up-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const base = randomBase();
const outbound = `${base}.250:7001`;
const meshFile = join(dir, 'mesh.yaml');
await writeFile(
  meshFile,
  `namespace: demo\naddressBase: "${base}"\ncaDir: ${dir}/ca\nstateDir: ${dir}/state\nclient:\n  outbound: "${outbound}"\nservices:\n  - { name: hello, replicas: 3, port: 80, targetPort: 8080 }\n  - { name: greeter, replicas: 1, port: 80, targetPort: 8080 }\n`,
);

t.test('weft up --check verifies every replica over mTLS and exits 0', async (t) => {
  const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, [WEFT_MAIN, 'up', '-f', meshFile, '--check']);
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout }));
  });
  t.equal(out.code, 0, out.stdout);
  t.match(out.stdout, /health: healthy: 5\/5 sidecars ready/);
  t.match(out.stdout, /check hello: ok: 30\/30 answered over mTLS with caller spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client; replicas .*hello-0=\d+/);
  t.match(out.stdout, /check greeter: ok/);
});

t.test('the README curl lands on a different replica each time, and Ctrl-C stops it all', async (t) => {
  const child = spawn(process.execPath, [WEFT_MAIN, 'up', '-f', meshFile]);
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitForOutput(child, () => stdout, /Ctrl-C stops everything/, 20_000);
  t.match(stdout, new RegExp(`curl -s -x http://${outbound.replace(/\./g, '\\.')} http://hello/`), 'prints the curl to run');
  t.match(stdout, new RegExp(`${base.replace(/\./g, '\\.')}\\.2 +:8080 +http://${base.replace(/\./g, '\\.')}\\.2:7020/ready`), 'prints each pod and its admin URL');
  const pods: string[] = [];
  for (let i = 0; i < 6; i++) {
    const body = await new Promise<string>((resolve, reject) =>
      execFile('curl', ['-s', '-x', `http://${outbound}`, 'http://hello/'], (err, so) => (err ? reject(new Error(`curl: ${err.message}`, { cause: err })) : resolve(so))),
    );
    const parsed = JSON.parse(body) as { pod: string; caller: string };
    t.equal(parsed.caller, 'spiffe://cluster.local/ns/demo/sa/client');
    pods.push(parsed.pod);
  }
  // Peak-EWMA may pick the same replica twice in a row; across the requests they spread.
  t.ok(new Set(pods).size >= 2, `the requests spread across replicas: ${pods.join(' ')}`);
  const live = `http://${base}.2:7020/live`;
  const answered = await new Promise<boolean>((resolve) => execFile('curl', ['-sf', '--max-time', '2', live], (err) => resolve(err === null)));
  t.ok(answered, `${live} answers while weft up runs`);
  child.kill('SIGINT');
  t.equal(await exited, 0);
  t.match(stdout, /stopped\./);
  // Nothing is left listening where a sidecar answered before.
  const refused = await new Promise<boolean>((resolve) =>
    execFile('curl', ['-s', '--max-time', '2', live], (err) => resolve(err !== null)),
  );
  t.ok(refused, 'the sidecars are gone');
});

t.test('a bad mesh file is refused with every problem listed', async (t) => {
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'services:\n  - name: Nope_\n    replicas: 100\n');
  const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [WEFT_MAIN, 'up', '-f', bad]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  t.equal(out.code, 2);
  t.match(out.stderr, /WEFT_ERR_MESH_FILE[\s\S]*services\[0\]\.name[\s\S]*replicas/);
});
