// weft stat, top and tap against a live `weft up` mesh: the numbers match the traffic the test
// sends (a deliberate authorization denial included), tap shows only the filtered requests and no
// credential value, and the proxies' admin tap refuses a bad filter with its code.
import t from 'tap';
import { startUpMesh, runWeft } from '../support/up-mesh.js';
import type { MeshStat } from '../../cli/observe/golden.js';
import type { TopRow } from '../../cli/top.js';

// hello denies /forbidden to every caller: the deliberate failure (403 WEFT_ERR_FORBIDDEN).
const mesh = await startUpMesh(
  'dash-obs',
  `services:
  - { name: hello, replicas: 2, port: 80, targetPort: 8080 }
  - { name: greeter, replicas: 1, port: 80, targetPort: 8080 }
authorization:
  policies:
    - apiVersion: policy.weft.dev/v1alpha1
      kind: AuthorizationPolicy
      metadata: { name: hello-no-forbidden }
      spec:
        selector: { matchLabels: { app: hello } }
        action: ALLOW
        rules:
          - to: { notPaths: [/forbidden] }
`,
);
t.teardown(() => mesh.stop());

t.test('weft stat --window 0 counts every request sent, per service and edge, with the denial as a failure', async (t) => {
  for (let i = 0; i < 7; i++) t.equal((await mesh.send('hello', `/ok/${i}`)).status, 200);
  for (let i = 0; i < 2; i++) t.same(await mesh.send('hello', '/forbidden'), { status: 403, error: 'WEFT_ERR_FORBIDDEN' });
  for (let i = 0; i < 3; i++) t.equal((await mesh.send('greeter', '/g')).status, 200);
  const run = await runWeft(['stat', '-f', mesh.meshFile, '--window', '0', '-o', 'json']).done;
  t.equal(run.code, 0, run.stderr);
  const stat = JSON.parse(run.stdout) as MeshStat;
  const hello = stat.services.find((s) => s.service === 'hello');
  const greeter = stat.services.find((s) => s.service === 'greeter');
  t.match(hello, { pods: 2, requests: 9, failures: 2, mtlsShare: 1 });
  t.equal(hello?.successRate, 7 / 9);
  t.match(greeter, { pods: 1, requests: 3, failures: 0, successRate: 1 });
  t.ok((hello?.p50Ms ?? 0) > 0 && (hello?.p99Ms ?? 0) >= (hello?.p50Ms ?? 0), `latency percentiles ${hello?.p50Ms} <= ${hello?.p99Ms}`);
  t.same(
    stat.edges.map((e) => [e.from, e.to, e.requests, e.failures]),
    [
      ['client', 'greeter', 3, 0],
      ['client', 'hello', 9, 2],
    ],
  );
  const table = await runWeft(['stat', '-f', mesh.meshFile, '--window', '0']).done;
  t.match(table.stdout, /hello\s+2\s+9\s+77\.78%/, 'the table shows the same numbers');
});

t.test('weft stat over a window shows the requests sent in it and their rate', async (t) => {
  const stat = runWeft(['stat', '-f', mesh.meshFile, '--window', '4s', '-o', 'json']);
  await stat.waitFor(/measuring for 4s/);
  for (let i = 0; i < 8; i++) t.equal((await mesh.send('greeter', '/w')).status, 200);
  const run = await stat.done;
  t.equal(run.code, 0, run.stderr);
  const parsed = JSON.parse(run.stdout) as MeshStat;
  t.match(parsed.services.find((s) => s.service === 'greeter'), { requests: 8, rps: 2, successRate: 1 });
  t.notOk(parsed.services.find((s) => s.service === 'hello'), 'hello had no request in the window');
});

t.test('weft top ranks the paths by the requests sent during its window', async (t) => {
  const top = runWeft(['top', '-f', mesh.meshFile, '--window', '4s', '-o', 'json']);
  await top.waitFor(/watching 4 sidecar\(s\) for 4s/);
  for (let i = 0; i < 5; i++) await mesh.send('hello', `/a?i=${i}`);
  for (let i = 0; i < 2; i++) await mesh.send('hello', '/forbidden');
  await mesh.send('greeter', '/c');
  const run = await top.done;
  t.equal(run.code, 0, run.stderr);
  const rows = (JSON.parse(run.stdout) as { paths: TopRow[] }).paths;
  t.same(
    rows.map((r) => [r.service, r.method, r.path, r.requests, r.failures]),
    [
      ['hello', 'GET', '/a', 5, 0],
      ['hello', 'GET', '/forbidden', 2, 2],
      ['greeter', 'GET', '/c', 1, 0],
    ],
  );
});

t.test('weft tap shows only the filtered requests, with no Authorization or API-key value', async (t) => {
  const tap = runWeft(['tap', '-f', mesh.meshFile, '--service', 'hello', '--path', '/tapme', '-o', 'json', '--max', '3']);
  await tap.waitFor(/tapping 2 sidecar\(s\): hello-0, hello-1/);
  const secrets = { authorization: 'Bearer secret-token-1', 'x-api-key': 'secret-key-2', cookie: 'session=secret-cookie-3' };
  await mesh.send('hello', '/other', secrets);
  await mesh.send('greeter', '/tapme', secrets);
  await mesh.send('hello', '/tapme/1?api_key=secret-query-4', secrets);
  await mesh.send('hello', '/nottapme', secrets);
  await mesh.send('hello', '/tapme/2', secrets);
  await mesh.send('hello', '/tapme/3', secrets);
  const run = await tap.done;
  t.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { pod: string; path: string; status: number; headers: Record<string, string> });
  t.same(lines.map((l) => l.path), ['/tapme/1?api_key=[redacted]', '/tapme/2', '/tapme/3']);
  t.ok(lines.every((l) => l.pod.startsWith('hello-') && l.status === 200));
  t.match(lines[0]?.headers, { authorization: '[redacted]', 'x-api-key': '[redacted]', cookie: '[redacted]' });
  t.notMatch(run.stdout, /secret-/, 'no credential value is printed');
  // The table form, as a person reads it: one line per request, the same redaction.
  const table = runWeft(['tap', '-f', mesh.meshFile, '--service', 'greeter', '--max', '1']);
  await table.waitFor(/tapping 1 sidecar\(s\): greeter-0/);
  await mesh.send('greeter', '/line', secrets);
  const line = await table.done;
  t.match(line.stdout, /^inbound +greeter-0 GET \/line 200 [\d.]+ms peer=spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client service=demo\/greeter:\d+ .*authorization=\[redacted\]/);
  t.notMatch(line.stdout, /secret-/);
});

t.test('the admin tap refuses a bad filter; recent failures name the weft code', async (t) => {
  const admin = `${mesh.base}.2:7020`;
  const bad = await fetch(`http://${admin}/debug/tap?status=5x&colour=red`);
  t.equal(bad.status, 400);
  t.match(await bad.json(), { code: 'WEFT_ERR_TAP_FILTER', message: /colour.*status "5x"/ });
  const failures = await Promise.all([2, 3].map(async (n) => (await (await fetch(`http://${mesh.base}.${n}:7020/debug/recent-failures`)).json()) as { total: number; failures: { path: string; error: string; status: number }[] }));
  t.equal(failures.reduce((n, f) => n + f.total, 0), 4, 'the four /forbidden requests, over both hello pods');
  t.ok(failures.every((f) => f.failures.every((x) => x.path === '/forbidden' && x.error === 'WEFT_ERR_FORBIDDEN' && x.status === 403)));
});
