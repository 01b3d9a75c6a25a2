// `weft up` that cannot lie: its sidecars die with it (even on SIGKILL), a second `weft up` on the
// same addresses fails with a code naming the holder, paths are relative to the mesh file, a bad
// part is reported with its reason and log, a misspelled field gets a hint, and a normal or
// piped stop says nothing alarming.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, writeFile, rm, readFile, stat } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_MAIN, randomBase } from '../support/local-mesh.js';
import { waitForOutput } from '../support/child-output.js';

const STACK = /^\s+at .*:\d+:\d+\)?$/m;
const dir = await mkdtemp(join(tmpdir(), 'weft-up-cli-'));
const elsewhere = await mkdtemp(join(tmpdir(), 'weft-up-cwd-'));
t.teardown(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(elsewhere, { recursive: true, force: true });
});
const base = randomBase();
const meshFile = join(dir, 'mesh.yaml');
// Relative paths: they must land beside the mesh file, not in the working directory.
await writeFile(meshFile, `addressBase: "${base}"\ncaDir: ca\nstateDir: state\nclient:\n  outbound: "${base}.249:7001"\nservices:\n  - { name: hello, replicas: 2 }\n`);

interface Up {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exit: Promise<number | null>;
}

function up(file: string, extra: string[] = []): Up {
  const child = spawn(process.execPath, [WEFT_MAIN, 'up', '-f', file, ...extra], { cwd: elsewhere });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

// Running: it exists and is not a zombie waiting to be reaped by whoever adopted it.
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const state = /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

// The PIDs weft up prints in its layout table, one per sidecar.
function pidsOf(stdout: string): number[] {
  return [...stdout.matchAll(/\/ready +(\d+)$/gm)].map((m) => Number(m[1]));
}

t.test('a second weft up fails with WEFT_ERR_LISTEN naming the holder; SIGKILL of the first leaves no process within 5 s', async (t) => {
  const first = up(meshFile);
  t.teardown(() => {
    if (first.child.exitCode === null) first.child.kill('SIGKILL');
  });
  await waitForOutput(first.child, first.stdout, /Ctrl-C stops everything/, 60_000);
  t.match(first.stdout(), /health: healthy: 3\/3 sidecars ready/);
  const pids = pidsOf(first.stdout());
  t.equal(pids.length, 3, `the layout shows each sidecar's pid: ${first.stdout()}`);
  t.ok((await stat(join(dir, 'ca'))).isDirectory(), 'caDir is relative to the mesh file');
  t.ok((await stat(join(dir, 'state', 'logs'))).isDirectory(), 'stateDir is relative to the mesh file');
  t.notOk(existsSync(join(elsewhere, 'ca')) || existsSync(join(elsewhere, 'state')), 'nothing in the working directory');

  const second = up(meshFile);
  const code = await second.exit;
  t.equal(code, 1);
  t.match(second.stderr(), new RegExp(`^weft up: WEFT_ERR_LISTEN: ${base.replace(/\./g, '\\.')}\\.1:7020 \\(admin of client\\) is already in use by pid ${pids[0]} \\(.*main\\.js proxy\\); is another weft up running`));
  t.notMatch(second.stderr(), STACK, 'no stack trace');
  t.equal(second.stdout(), '', 'the second one started nothing and printed no layout');
  t.ok(pids.every(running), "the first mesh's sidecars are untouched");

  first.child.kill('SIGKILL');
  await first.exit;
  const deadline = Date.now() + 5000;
  while (pids.some(running) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.same(pids.filter(running), [], 'every sidecar is gone within 5 s of weft up being killed with SIGKILL');
});

t.test('after that, weft up starts clean on the same addresses; Ctrl-C stops it without alarm', async (t) => {
  const again = up(meshFile);
  t.teardown(() => {
    if (again.child.exitCode === null) again.child.kill('SIGKILL');
  });
  await waitForOutput(again.child, again.stdout, /Ctrl-C stops everything/, 60_000);
  t.match(again.stdout(), /health: healthy: 3\/3/);
  const pids = pidsOf(again.stdout());
  again.child.kill('SIGINT');
  t.equal(await again.exit, 0);
  const tail = again.stdout().slice(again.stdout().indexOf('Ctrl-C stops everything'));
  t.equal(tail, 'Ctrl-C stops everything.\nstopping: draining sidecars...\nstopped.\n', 'a normal stop prints nothing alarming');
  t.equal(again.stderr(), '');
  t.same(pids.filter(running), [], 'the sidecars stopped with it');
});

t.test('output piped into a reader that goes away (EPIPE) is no crash; the stop is still clean', async (t) => {
  const piped = up(meshFile);
  t.teardown(() => {
    if (piped.child.exitCode === null) piped.child.kill('SIGKILL');
  });
  await waitForOutput(piped.child, piped.stdout, /Ctrl-C stops everything/, 60_000);
  const pids = pidsOf(piped.stdout());
  piped.child.stdout?.destroy(); // what `| head` does after its lines
  piped.child.kill('SIGINT'); // the stop writes to the closed pipe
  t.equal(await piped.exit, 0);
  t.notMatch(piped.stderr(), /EPIPE|WEFT_ERR/, piped.stderr());
  t.same(pids.filter(running), []);
});

t.test('DEGRADED names each failing part, its reason and its log', async (t) => {
  const b = randomBase();
  const bad = join(dir, 'degraded.yaml');
  // A file that cannot be read as objects at all (a bad object alone would be rejected alone and
  // the gateway would serve the rest): the gateway refuses to start.
  await writeFile(join(dir, 'bad-routes.yaml'), 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r\nspec: [\n');
  await writeFile(bad, `addressBase: "${b}"\ncaDir: ca\nstateDir: state-degraded\nclient:\n  outbound: "${b}.249:7001"\nservices:\n  - { name: hello, replicas: 1 }\ngateway:\n  http: "${b}.248:8080"\n  routes: bad-routes.yaml\n`);
  const d = up(bad);
  t.teardown(() => {
    if (d.child.exitCode === null) d.child.kill('SIGKILL');
  });
  t.equal(await d.exit, 1);
  const log = join(dir, 'state-degraded', 'logs', 'weft-gateway.log');
  t.match(d.stdout(), /health: DEGRADED: 2\/3 sidecars ready \(not ready: weft-gateway\)/);
  t.match(d.stdout(), new RegExp(`\\n {2}weft-gateway: exited \\(status \\d\\): .*WEFT_ERR_[A-Z_]+.*\\n {4}log: ${log.replace(/[./]/g, '\\$&')}\\n`));
  t.match(await readFile(log, 'utf8'), /WEFT_ERR_/, 'the log holds the same reason');
  t.notMatch(d.stdout() + d.stderr(), STACK);
});

t.test('a misspelled mesh-file field fails with the nearest name and no stack trace', async (t) => {
  const typo = join(dir, 'typo.yaml');
  await writeFile(typo, 'services:\n  - { name: hello, replica: 2 }\n');
  const r = up(typo);
  t.equal(await r.exit, 2);
  t.match(r.stderr(), /^weft up: WEFT_ERR_MESH_FILE: .*typo\.yaml is invalid:\n {2}- services\[0\]\.replica: unknown field; did you mean "replicas"\?/);
  t.notMatch(r.stderr(), STACK);
});

t.test('your own apps: a command weft up runs and an address you run, each behind a sidecar; SIGKILL stops the command too', async (t) => {
  const b = randomBase();
  // The app "you" run, on an address of your choosing.
  const yours = http.createServer((_req, res) => res.end('from the address app\n'));
  await new Promise<void>((resolve) => yours.listen(0, `${b}.240`, resolve));
  t.teardown(() => yours.close());
  const yoursPort = (yours.address() as { port: number }).port;
  const file = join(dir, 'own.yaml');
  const cmdPort = 20000 + Math.floor(Math.random() * 20000);
  await writeFile(
    file,
    `addressBase: "${b}"\ncaDir: ca\nstateDir: state-own\nclient:\n  outbound: "${b}.249:7001"\nservices:\n` +
      `  - name: cmd\n    command: node -e "require('http').createServer((q, s) => s.end('from the command app ' + process.env.PORT + '\\\\n')).listen(process.env.PORT, process.env.HOST)"\n    targetPort: ${cmdPort}\n` +
      `  - { name: addr, address: "${b}.240:${yoursPort}" }\n`,
  );
  const own = up(file);
  t.teardown(() => {
    if (own.child.exitCode === null) own.child.kill('SIGKILL');
  });
  await waitForOutput(own.child, own.stdout, /Ctrl-C stops everything/, 60_000);
  const via = (host: string): Promise<string> =>
    new Promise((resolve) => {
      http.get({ host: `${b}.249`, port: 7001, path: '/', headers: { host } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      }).on('error', (e) => resolve(`error ${e.message}`));
    });
  t.equal(await via('cmd'), `from the command app ${cmdPort}\n`, 'the command app answers through the mesh, PORT set');
  t.equal(await via('addr'), 'from the address app\n', 'the app at an address answers through the mesh');
  own.child.kill('SIGKILL');
  await own.exit;
  const listening = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port: cmdPort });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
  const deadline = Date.now() + 5000;
  while ((await listening()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.notOk(await listening(), 'the command app is gone within 5 s of weft up being killed');
});
