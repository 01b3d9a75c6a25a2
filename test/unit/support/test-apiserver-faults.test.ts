// The test API server's injected faults: held requests, 410 on watches, 429/503 with
// Retry-After, outages (refused and reset), forced small pages, and the timed request log.
import t, { type Test } from 'tap';
import { request } from 'node:https';
import { connect } from 'node:net';
import { TestApiServer } from '../../support/test-apiserver.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(api: TestApiServer, path: string, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, api.url), { ca: api.caPem, headers: { Authorization: `Bearer ${api.adminToken}` }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no response headers')));
    req.on('error', reject);
    req.end();
  });
}

async function start(t: Test): Promise<TestApiServer> {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  return api;
}

const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';

t.test('a hang fault holds the request without headers until cleared; other requests are answered', async (t) => {
  const api = await start(t);
  api.injectFault({ kind: 'hang' }, { verb: 'watch', resource: 'endpointslices' });
  const held = get(api, `${SLICES}?watch=true`, 60_000).then(() => 'answered', (err: Error) => err.message);
  const list = await get(api, SLICES);
  t.equal(list.status, 200, 'a list of the same kind is answered');
  while (api.heldRequests === 0) await new Promise((r) => setImmediate(r));
  t.equal(api.heldRequests, 1, 'the watch is held');
  api.clearFaults();
  t.match(await held, /socket hang up|ECONNRESET/, 'clearing resets it; no header was ever sent');
  const watchRecord = api.requestLog.find((r) => r.verb === 'watch');
  t.match(watchRecord, { method: 'GET', path: SLICES, resource: 'endpointslices' }, 'the log saw the watch');
});

t.test('410 on a watch comes as an ERROR event in a 200 stream, for the next N watches only', async (t) => {
  const api = await start(t);
  api.injectFault({ kind: 'status', code: 410 }, { verb: 'watch' }, 2);
  for (let i = 0; i < 2; i += 1) {
    const w = await get(api, `${SLICES}?watch=true&resourceVersion=1`);
    t.equal(w.status, 200);
    const event = JSON.parse(w.body.trim()) as { type: string; object: { code: number; reason: string } };
    t.match(event, { type: 'ERROR', object: { code: 410, reason: 'Expired' } });
  }
  t.equal(api.pendingFaults, 0, 'both used');
  const third = await get(api, `${SLICES}?watch=true&timeoutSeconds=1`);
  t.equal(third.status, 200);
  t.equal(third.body, '', 'the third watch is a normal (empty) one that ends at its timeout');
});

t.test('429 and 503 carry Retry-After and retryAfterSeconds, as the real server sends them', async (t) => {
  const api = await start(t);
  api.injectFault({ kind: 'status', code: 429, retryAfterSeconds: 2 }, { verb: 'list' }, 1);
  api.injectFault({ kind: 'status', code: 503, retryAfterSeconds: 3 }, { resource: 'endpointslices' }, 1);
  const a = await get(api, '/api/v1/namespaces');
  t.equal(a.status, 429);
  t.equal(a.headers['retry-after'], '2');
  t.match(JSON.parse(a.body), { kind: 'Status', reason: 'TooManyRequests', code: 429, details: { retryAfterSeconds: 2 } });
  const b = await get(api, SLICES);
  t.equal(b.status, 503);
  t.equal(b.headers['retry-after'], '3');
  t.equal((await get(api, SLICES)).status, 200, 'then served');
});

t.test('forced small pages: a list with limit gets pages of at most maxPageSize with continue; without limit, all', async (t) => {
  const api = await start(t);
  for (const n of ['a', 'b', 'c', 'd', 'e']) api.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n, namespace: 'default' } });
  api.maxPageSize = 2;
  const names: string[] = [];
  let cont = '';
  let pages = 0;
  do {
    const page = JSON.parse((await get(api, `/api/v1/namespaces/default/configmaps?limit=500${cont ? `&continue=${cont}` : ''}`)).body) as { metadata: { continue?: string }; items: { metadata: { name: string } }[] };
    pages += 1;
    t.ok(page.items.length <= 2, 'at most 2 a page');
    names.push(...page.items.map((i) => i.metadata.name));
    cont = page.metadata.continue ?? '';
  } while (cont !== '');
  t.equal(pages, 3);
  t.same(names, ['a', 'b', 'c', 'd', 'e']);
  const all = JSON.parse((await get(api, '/api/v1/namespaces/default/configmaps')).body) as { items: unknown[] };
  t.equal(all.items.length, 5, 'no limit, no paging');
});

t.test('outages: refused while stopped, reset in reset mode, served again after', async (t) => {
  const api = await start(t);
  await api.startOutage('refuse');
  await t.rejects(get(api, SLICES), /ECONNREFUSED/, 'refused');
  await api.endOutage();
  t.equal((await get(api, SLICES)).status, 200);
  await api.startOutage('reset');
  const reset = await new Promise<string>((resolve) => {
    const s = connect(api.port, api.host);
    s.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? err.message));
    s.on('close', () => resolve('closed'));
  });
  t.match(reset, /ECONNRESET|closed/, 'the TCP connection is reset at once');
  await t.rejects(get(api, SLICES), /ECONNRESET|socket hang up|disconnected/, 'HTTPS fails');
  await api.endOutage();
  t.equal((await get(api, SLICES)).status, 200, 'served again');
});
