// The process-level policy of `weft proxy`: a stray unhandled rejection is logged at error with
// WEFT_ERR_INTERNAL and the sidecar keeps serving; an uncaught exception still ends it.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { LocalMesh, get, randomBase } from '../support/local-mesh.js';

const base = randomBase();
const address = `${base}.1`;
const app: Server = createServer((req, res) => res.end('hello'));
await new Promise<void>((r) => app.listen(8080, address, r));
t.teardown(() => new Promise<void>((r) => app.close(() => r())));

const mesh = await LocalMesh.create();
t.teardown(() => mesh.close());
await mesh.setServices([{ name: 'web', port: 80, targetPort: 8080, pods: [{ name: 'web-1', address, serviceAccount: 'web' }] }]);

// Preloaded into the proxy process: a rejection nobody handles, once the proxy is up (no spaces:
// NODE_OPTIONS splits on them).
const strayRejection = "--import=data:text/javascript,setTimeout(()=>{Promise.reject(Error('stray-rejection'))},1500)";
const strayThrow = "--import=data:text/javascript,setTimeout(()=>{throw(Error('stray-throw'))},1500)";

t.test('an unhandled rejection is logged at error with WEFT_ERR_INTERNAL and the proxy keeps serving', async (t) => {
  const proxy = await mesh.startProxy({ name: 'web-1', address, serviceAccount: 'web' }, { NODE_OPTIONS: strayRejection });
  // Wait for the event itself: the log line, not a fixed sleep.
  let line: string | undefined;
  for (let i = 0; i < 200 && line === undefined; i++) {
    line = (await proxy.log()).split('\n').find((l) => l.includes('stray-rejection'));
    if (line === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(line, 'the rejection was logged');
  t.match(JSON.parse(line ?? '{}'), { level: 50, code: 'WEFT_ERR_INTERNAL' });
  t.equal(proxy.exitCode, undefined, 'the proxy is still running');
  t.equal((await get(`${proxy.admin}/live`)).status, 200, 'and still answers');
  proxy.child.kill('SIGTERM');
  t.equal(await proxy.exited, 0, 'and drains and exits cleanly on SIGTERM');
});

t.test('an uncaught exception still ends the proxy', async (t) => {
  // The throw may land before or after /ready; either way the process must end with a failure.
  const ended = await mesh.startProxy({ name: 'web-2', address: `${base}.2`, serviceAccount: 'web' }, { NODE_OPTIONS: strayThrow }).then(
    async (proxy) => ({ code: await proxy.exited, log: await proxy.log() }),
    (err: Error) => ({ code: /exited with (\d+)/.exec(err.message)?.[1], log: err.message }),
  );
  t.not(ended.code, 0, 'the process exited with a failure');
  t.not(ended.code, undefined);
  t.match(ended.log, /stray-throw/);
});
