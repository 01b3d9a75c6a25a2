// Guards the fixed shape of the per-request records (proxy exchange, gateway exchange, the
// gateway's upstream headers): V8 itself, asked through --allow-natives-syntax in a child process,
// must see one hidden class for every record, whatever order the caller's fields came in.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../support/local-mesh.js';

const DIST = join(REPO_ROOT, 'dist');

// Runs in a child with natives syntax on. Fields arrive in varying key orders and carry extra
// keys, as a spread-then-add would copy them; a literal naming each field ignores both.
const SCRIPT = `
import { startExchange } from ${JSON.stringify(join(DIST, 'proxy/exchange.js'))};
import { openExchange } from ${JSON.stringify(join(DIST, 'gateway/exchange.js'))};
const out = { proxySame: true, proxyFast: true, gatewaySame: true, gatewayFast: true, n: 0 };
// Filled as a request fills it: a field's first double (responseMs) generalizes the map once,
// for every record after it, so each record is compared with the one before it.
const fill = (x) => {
  x.service = 'ns/svc:80'; x.peer = 'spiffe://cluster.local/ns/a/sa/b'; x.endpoint = '10.0.0.1:8080';
  x.status = 200; x.responseMs = performance.now(); x.finished = true;
  return x;
};
let prev = fill(startExchange({ direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'a', path: '/' }, performance.now()));
for (let i = 0; i < 200; i++) {
  const fields = i % 3 === 0
    ? { path: '/y' + i, method: 'POST', direction: 'inbound', protocol: 'h2', authority: 'b' + i }
    : i % 3 === 1 ? { direction: 'outbound', protocol: 'tcp', method: '', authority: '', path: '', extra: i }
    : { direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'c', path: '/' };
  const x = fill(startExchange(fields, performance.now()));
  out.proxySame &&= %HaveSameMap(prev, x);
  prev = x;
  out.proxyFast &&= %HasFastProperties(x);
  out.n++;
}
const req = (headers, url) => ({ headers, url, socket: { remoteAddress: '127.0.0.1' } });
let g0 = openExchange('http/1.1', req({ host: 'a' }, '/p?q=1'), {}, undefined, performance.now());
g0.host = 'x'; g0.route = 'r'; g0.backend = 'b';
for (let i = 0; i < 200; i++) {
  const g = openExchange(i % 2 ? 'h2' : 'http/1.1', req(i % 2 ? { ':authority': 'h' + i } : { host: 'x' }, i % 2 ? '/' : '/a?b=' + i), {}, undefined, performance.now());
  g.host = 'x'; g.route = 'r'; g.backend = 'b'; g.code = undefined;
  out.gatewaySame &&= %HaveSameMap(g0, g);
  g0 = g;
  out.gatewayFast &&= %HasFastProperties(g);
}
process.stdout.write(JSON.stringify(out));
`;

t.test('every proxy and gateway exchange record shares one hidden class with fast properties', async (t) => {
  t.ok(existsSync(join(DIST, 'proxy/exchange.js')), 'dist/ is built (npm run build)');
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', SCRIPT], (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out))),
  );
  const result = JSON.parse(stdout) as Record<string, unknown>;
  t.same(result, { proxySame: true, proxyFast: true, gatewaySame: true, gatewayFast: true, n: 200 });
});

t.test('the per-request files build their records without spread-then-add', async (t) => {
  // The cheap, source-level half of the guard: a `{ ...x, y }` literal on these paths is how a
  // record gets a new hidden class per request, and it is easy to write back in.
  for (const file of ['proxy/exchange.ts', 'gateway/exchange.ts', 'gateway/upstream.ts']) {
    const text = await readFile(join(REPO_ROOT, file), 'utf8');
    const code = text.split('\n').filter((l) => !l.trim().startsWith('//') && !l.trim().startsWith('*'));
    t.same(code.filter((l) => /\{\s*\.\.\.\w/.test(l)), [], `${file} has no object spread`);
  }
});
