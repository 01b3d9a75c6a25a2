// `weft authz explain` on the example mesh file: the same decisions a sidecar makes, exit 0 when
// allowed, 1 when denied, 2 on bad input.
import t from 'tap';
import { execFile } from 'node:child_process';
import { WEFT_MAIN, REPO_ROOT } from '../support/local-mesh.js';

function explain(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [WEFT_MAIN, 'authz', 'explain', ...args], (err, stdout, stderr) => resolve({ code: typeof err?.code === 'number' ? err.code : 0, out: stdout + stderr })),
  );
}
const file = `${REPO_ROOT}examples/local-mesh.yaml`;
const id = (sa: string): string => `spiffe://cluster.local/ns/demo/sa/${sa}`;
const hello = ['-f', file, '--namespace', 'demo', '--labels', 'app=hello', '--port', '8080'];

t.test('intruder is denied /admin on hello, the client allowed, by the rule that decides', async (t) => {
  const denied = await explain([...hello, '--identity', id('intruder'), '--method', 'GET', '--path', '/admin']);
  t.equal(denied.code, 1);
  t.match(denied.out, /DENIED: .*intruder GET \/admin on demo port 8080\n {2}by no-allow-match/);
  const allowed = await explain([...hello, '--identity', id('client'), '--method', 'GET', '--path', '/admin/x']);
  t.equal(allowed.code, 0);
  t.match(allowed.out, /ALLOWED: .*\n {2}by demo\/hello-admin rule 0/);
  const greeter = await explain(['-f', file, '--namespace', 'demo', '--labels', 'app=greeter', '--port', '8080', '--identity', id('intruder'), '--method', 'GET', '--path', '/admin']);
  t.equal(greeter.code, 0);
  t.match(greeter.out, /by default:all-authenticated/);
});

t.test('bad input exits 2 with the usage or the coded error', async (t) => {
  const missing = await explain(['-f', file]);
  t.equal(missing.code, 2);
  t.match(missing.out, /usage: weft authz explain/);
  const noFile = await explain(['-f', '/nonexistent.yaml', '--namespace', 'demo', '--port', '80', '--identity', id('x')]);
  t.equal(noFile.code, 2);
  t.match(noFile.out, /cannot read \/nonexistent.yaml/);
});
