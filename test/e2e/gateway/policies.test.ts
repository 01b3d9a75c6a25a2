// Edge policies on the real gateway process with real clients: API keys, JWT (every way a token
// can be wrong), exact rate limiting under concurrency, a limit shared by three replicas, CORS
// preflights, IP lists behind trusted and untrusted proxies, and body limits.
import t from 'tap';
import http from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { GatewayMesh, echoed, request } from '../../support/gateway-mesh.js';
import { hashKey } from '../../../gateway/policies/api-key.js';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'weft-api';

function route(name: string, host: string): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: test }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [${host}]
  rules: [{ backendRefs: [{ name: app, port: 80 }] }]
`;
}

function policy(kind: string, name: string, target: string, spec: string, targetKind = 'HTTPRoute'): string {
  return `---
apiVersion: weft.dev/v1alpha1
kind: ${kind}
metadata: { name: ${name}, namespace: test }
spec:
  targetRef: { group: gateway.networking.k8s.io, kind: ${targetKind}, name: ${target} }
${spec}`;
}

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: test }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: 80, protocol: HTTP }]
`;

t.test('edge policies', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('app', 2);

  // JWT keys: RS256 served from a JWKS URL (rotated during the test), ES256 and EdDSA from a file.
  const rsa = await generateKeyPair('RS256');
  const rsa2 = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const stranger = await generateKeyPair('RS256');
  const jwk = async (k: CryptoKey, kid: string, alg: string): Promise<JWK> => ({ ...(await exportJWK(k)), kid, alg, use: 'sig' });
  let served: JWK[] = [await jwk(rsa.publicKey, 'rsa-1', 'RS256')];
  let jwksFetches = 0;
  const jwksServer = http.createServer((_req, res) => {
    jwksFetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: served }));
  });
  const jwksAddr = mesh.address();
  await new Promise<void>((r) => jwksServer.listen(0, jwksAddr, () => r()));
  t.teardown(() => new Promise((r) => jwksServer.close(r)));
  const jwksUrl = `http://${jwksAddr}:${(jwksServer.address() as { port: number }).port}/jwks.json`;
  const jwksFile = join(mesh.dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify({ keys: [await jwk(ec.publicKey, 'ec-1', 'ES256'), await jwk(ed.publicKey, 'ed-1', 'EdDSA')] }));

  const routes =
    GATEWAY +
    route('keyed', 'keyed.test') +
    policy('ApiKeyPolicy', 'keys', 'keyed', `  consumers:\n    - { name: alice, keySha256: ${hashKey('alice-secret')} }\n    - { name: bob, keySha256: ${hashKey('bob-secret')} }\n`) +
    policy('RateLimitPolicy', 'per-consumer', 'keyed', `  requests: 2\n  window: 24h\n  key: { type: Consumer }\n`) +
    route('query-keyed', 'query.test') +
    policy('ApiKeyPolicy', 'query-keys', 'query-keyed', `  queryParam: apikey\n  consumers: [{ name: carol, keySha256: ${hashKey('carol-secret')} }]\n`) +
    route('jwt-url', 'jwt.test') +
    policy('JwtPolicy', 'jwt-url', 'jwt-url', `  issuer: ${ISSUER}\n  audiences: [${AUDIENCE}]\n  jwksUrl: ${jwksUrl}\n  jwksCooldownSeconds: 0\n  clockSkewSeconds: 60\n  claimsToHeaders: [{ claim: sub, header: x-user }, { claim: tier, header: x-tier }]\n`) +
    route('jwt-claims', 'claims.test') +
    policy(
      'JwtPolicy',
      'jwt-claims',
      'jwt-claims',
      `  issuer: ${ISSUER}\n  audiences: [${AUDIENCE}]\n  jwksFile: ${jwksFile}\n  claimsToHeaders: [{ claim: tenant, header: X-Tenant }]\n  requiredClaims: [{ claim: role, oneOf: [reader, writer] }, { claim: tier, value: gold }]\n  requiredScopes: [orders:read]\n`,
    ) +
    route('jwt-file', 'jwtfile.test') +
    policy('JwtPolicy', 'jwt-file', 'jwt-file', `  issuer: ${ISSUER}\n  audiences: [${AUDIENCE}]\n  jwksFile: ${jwksFile}\n`) +
    route('limited', 'limited.test') +
    policy('RateLimitPolicy', 'hundred', 'limited', `  requests: 100\n  window: 24h\n  key: { type: Route }\n`) +
    route('cors', 'cors.test') +
    policy('CorsPolicy', 'cors', 'cors', `  allowOrigins: [https://app.example.com, "https://*.trusted.example"]\n  allowMethods: [GET, PUT, DELETE]\n  allowHeaders: [content-type, x-custom]\n  exposeHeaders: [x-echo-backend]\n  maxAgeSeconds: 120\n`) +
    route('ips', 'ips.test') +
    policy('IpAccessPolicy', 'ips', 'ips', `  allow: [10.0.0.0/8, "2001:db8::/32"]\n  deny: [10.1.0.0/16]\n`) +
    route('body', 'body.test') +
    policy('BodyLimitPolicy', 'body', 'body', `  maxBytes: 1000\n`) +
    route('header-limited', 'hdr.test') +
    policy('RateLimitPolicy', 'per-tenant', 'header-limited', `  requests: 1\n  window: 24h\n  key: { type: Header, header: x-tenant }\n`);
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, routes);
  const gw = await mesh.startGateway(file, { WEFT_GATEWAY_TRUSTED_PROXIES: '127.0.0.1/32' });
  const get = (host: string, path = '/', headers: Record<string, string> = {}, method = 'GET', body?: string | Buffer) =>
    request(`${gw.http}${path}`, { method, headers: { host, ...headers }, ...(body === undefined ? {} : { body }) });

  await t.test('API keys', async (t) => {
    const missing = await get('keyed.test');
    t.equal(missing.status, 401, 'missing key: 401');
    t.equal(missing.headers['weft-error'], 'WEFT_ERR_UNAUTHORIZED');
    t.match(String(missing.headers['www-authenticate']), /^ApiKey realm="weft", header="x-api-key"/);
    const wrong = await get('keyed.test', '/', { 'x-api-key': 'guess' });
    t.equal(wrong.status, 401, 'wrong key: 401');
    t.match(String(wrong.headers['www-authenticate']), /error="invalid_key"/);
    const ok = await get('keyed.test', '/', { 'x-api-key': 'alice-secret' });
    t.equal(ok.status, 200, 'right key: 200');
    const echo = echoed(ok.body);
    t.equal(echo?.headers['x-weft-consumer'], 'alice', 'consumer passed upstream');
    t.equal(echo?.headers['x-api-key'], undefined, 'the key is removed before the backend');
    const q = await get('query.test', '/p?a=1&apikey=carol-secret&b=2');
    t.equal(q.status, 200, 'key in the query parameter');
    t.equal(echoed(q.body)?.url, '/p?a=1&b=2', 'the key is removed from the query');
    t.equal(echoed(q.body)?.headers['x-weft-consumer'], 'carol');
    t.equal((await get('query.test', '/p?apikey=nope')).status, 401);
  });

  await t.test('rate limit per consumer with RateLimit headers', async (t) => {
    // alice used one request above.
    const second = await get('keyed.test', '/', { 'x-api-key': 'alice-secret' });
    t.equal(second.status, 200);
    t.equal(second.headers['ratelimit-limit'], '2');
    t.equal(second.headers['ratelimit-remaining'], '0');
    const third = await get('keyed.test', '/', { 'x-api-key': 'alice-secret' });
    t.equal(third.status, 429, 'third request in the window: 429');
    t.equal(third.headers['weft-error'], 'WEFT_ERR_RATE_LIMITED');
    t.equal(third.headers['ratelimit-remaining'], '0');
    t.ok(Number(third.headers['retry-after']) > 0, 'Retry-After set');
    t.equal(third.headers['retry-after'], third.headers['ratelimit-reset'], 'Retry-After equals RateLimit-Reset');
    t.equal((await get('keyed.test', '/', { 'x-api-key': 'bob-secret' })).status, 200, 'another consumer has its own budget');
  });

  await t.test('rate limit per header value', async (t) => {
    t.equal((await get('hdr.test', '/', { 'x-tenant': 'a' })).status, 200);
    t.equal((await get('hdr.test', '/', { 'x-tenant': 'a' })).status, 429);
    t.equal((await get('hdr.test', '/', { 'x-tenant': 'b' })).status, 200);
  });

  await t.test('1,000 concurrent requests against a limit of 100 let exactly 100 through', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 200 });
    const results = await Promise.all(Array.from({ length: 1000 }, () => request(`${gw.http}/`, { headers: { host: 'limited.test' }, agent })));
    agent.destroy();
    const by = (s: number): number => results.filter((r) => r.status === s).length;
    const statuses = JSON.stringify(Object.fromEntries([...new Set(results.map((r) => r.status))].map((s) => [s, by(s)])));
    const errors = [...new Set(results.map((r) => r.headers['weft-error']).filter(Boolean))].join(',');
    t.equal(by(200), 100, `exactly 100 passed (statuses ${statuses}, errors ${errors || 'none'})`);
    t.equal(by(429), 900, 'the other 900 got 429');
  });

  const now = Math.floor(Date.now() / 1000);
  const sign = (key: CryptoKey, alg: string, kid: string, claims: Record<string, unknown> = {}, opts: { iss?: string; aud?: string; exp?: number; nbf?: number } = {}) =>
    new SignJWT({ tier: 'gold', ...claims })
      .setProtectedHeader({ alg, kid })
      .setIssuer(opts.iss ?? ISSUER)
      .setAudience(opts.aud ?? AUDIENCE)
      .setSubject('user-42')
      .setIssuedAt(now - 10)
      .setNotBefore(opts.nbf ?? now - 10)
      .setExpirationTime(opts.exp ?? now + 600)
      .sign(key);

  await t.test('JWT: valid tokens of every algorithm pass and claims are forwarded', async (t) => {
    const ok = await get('jwt.test', '/', { authorization: `Bearer ${await sign(rsa.privateKey, 'RS256', 'rsa-1')}` });
    t.equal(ok.status, 200, 'RS256 via JWKS URL');
    t.equal(echoed(ok.body)?.headers['x-user'], 'user-42', 'sub forwarded');
    t.equal(echoed(ok.body)?.headers['x-tier'], 'gold', 'custom claim forwarded');
    t.equal((await get('jwtfile.test', '/', { authorization: `Bearer ${await sign(ec.privateKey, 'ES256', 'ec-1')}` })).status, 200, 'ES256 via JWKS file');
    t.equal((await get('jwtfile.test', '/', { authorization: `Bearer ${await sign(ed.privateKey, 'EdDSA', 'ed-1')}` })).status, 200, 'EdDSA via JWKS file');
  });

  await t.test('JWT: every bad token gets 401', async (t) => {
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'x', exp: now + 600 })).toString('base64url')}.`;
    const valid = await sign(rsa.privateKey, 'RS256', 'rsa-1');
    const [h, p] = valid.split('.');
    const cases: [string, string | undefined][] = [
      ['missing', undefined],
      ['expired', await sign(rsa.privateKey, 'RS256', 'rsa-1', {}, { exp: now - 600 })],
      ['not yet valid', await sign(rsa.privateKey, 'RS256', 'rsa-1', {}, { nbf: now + 300 })],
      ['wrong issuer', await sign(rsa.privateKey, 'RS256', 'rsa-1', {}, { iss: 'https://evil.test' })],
      ['wrong audience', await sign(rsa.privateKey, 'RS256', 'rsa-1', {}, { aud: 'other-api' })],
      ['bad signature (another key, same kid)', await sign(stranger.privateKey, 'RS256', 'rsa-1')],
      ['tampered payload', `${h}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: now + 600 })).toString('base64url')}.${valid.split('.')[2]}`],
      ['alg none', none],
      ['not a JWT', 'abc.def'],
    ];
    void p;
    for (const [name, token] of cases) {
      const res = await get('jwt.test', '/', token === undefined ? {} : { authorization: `Bearer ${token}` });
      t.equal(res.status, 401, `${name}: 401`);
      t.match(String(res.headers['www-authenticate']), /^Bearer realm="weft"/, `${name}: WWW-Authenticate`);
      t.equal(res.headers['weft-error'], 'WEFT_ERR_UNAUTHORIZED');
    }
    t.equal((await get('jwt.test', '/', { authorization: `Bearer ${await sign(rsa.privateKey, 'RS256', 'rsa-1', {}, { exp: Math.floor(Date.now() / 1000) - 20 })}` })).status, 200, 'expired 20 s ago, within the 60 s clock skew, still passes');
  });

  // Raw header pairs, so one request can carry several case and duplicate variants of a name.
  const rawGet = (host: string, pairs: string[]): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request(`${gw.http}/`, { headers: ['host', host, ...pairs], agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });

  await t.test('JWT claims: a client-sent claim header never reaches the backend', async (t) => {
    const noTenant = await sign(ec.privateKey, 'ES256', 'ec-1', { role: 'reader', scope: 'openid orders:read' });
    const forged = await get('claims.test', '/', { authorization: `Bearer ${noTenant}`, 'x-tenant': 'acme-admin' });
    t.equal(forged.status, 200, 'a valid token with the required claims and scope passes');
    t.equal(echoed(forged.body)?.headers['x-tenant'], undefined, 'a token without the claim: the forged x-tenant is dropped');
    const variants = await rawGet('claims.test', ['authorization', `Bearer ${noTenant}`, 'X-Tenant', 'acme-admin', 'x-TENANT', 'evil', 'x-tenant', 'more']);
    t.equal(variants.status, 200);
    t.equal(echoed(variants.body)?.headers['x-tenant'], undefined, 'every case and duplicate variant is dropped');
    const withTenant = await sign(ec.privateKey, 'ES256', 'ec-1', { role: 'writer', scp: ['orders:read'], tenant: 'acme' });
    const replaced = await rawGet('claims.test', ['authorization', `Bearer ${withTenant}`, 'X-TENANT', 'acme-admin', 'x-tenant', 'evil']);
    t.equal(replaced.status, 200, 'scp as a list carries the scope');
    t.equal(echoed(replaced.body)?.headers['x-tenant'], 'acme', 'the backend sees only the claim');
    const refusedToken = await get('claims.test', '/', { authorization: 'Bearer abc.def', 'x-tenant': 'acme-admin' });
    t.equal(refusedToken.status, 401, 'a bad token is still 401, not the claim code');
  });

  await t.test('JWT claims: a missing or wrong required claim or scope gets 403 with its code', async (t) => {
    const cases: [string, Record<string, unknown>][] = [
      ['no role claim', { scope: 'orders:read' }],
      ['role not one of the list', { role: 'admin', scope: 'orders:read' }],
      ['tier not the exact value', { role: 'reader', tier: 'silver', scope: 'orders:read' }],
      ['no scope', { role: 'reader' }],
      ['another scope', { role: 'reader', scope: 'orders:write' }],
      ['scp list without the scope', { role: 'reader', scp: ['orders:write'] }],
    ];
    for (const [name, claims] of cases) {
      const res = await get('claims.test', '/', { authorization: `Bearer ${await sign(ec.privateKey, 'ES256', 'ec-1', claims)}` });
      t.equal(res.status, 403, `${name}: 403`);
      t.equal(res.headers['weft-error'], 'WEFT_ERR_JWT_CLAIM', `${name}: the claim code`);
      t.match(String(res.headers['www-authenticate']), /^Bearer realm="weft", error="insufficient_scope"/, `${name}: WWW-Authenticate`);
    }
    const noScope = await get('claims.test', '/', { authorization: `Bearer ${await sign(ec.privateKey, 'ES256', 'ec-1', { role: 'reader' })}` });
    t.match(String(noScope.headers['www-authenticate']), /scope="orders:read"/, 'the missing scope is named');
  });

  await t.test('JWT: an unknown kid refreshes the JWKS', async (t) => {
    const token = await sign(rsa2.privateKey, 'RS256', 'rsa-2');
    t.equal((await get('jwt.test', '/', { authorization: `Bearer ${token}` })).status, 401, 'unknown key before rotation');
    served = [...served, await jwk(rsa2.publicKey, 'rsa-2', 'RS256')];
    const before = jwksFetches;
    t.equal((await get('jwt.test', '/', { authorization: `Bearer ${token}` })).status, 200, 'the rotated key is fetched');
    t.ok(jwksFetches > before, 'the JWKS was fetched again');
  });

  await t.test('CORS', async (t) => {
    const pre = await get('cors.test', '/x', { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'Content-Type, X-Custom' }, 'OPTIONS');
    t.equal(pre.status, 204, 'preflight answered at the edge');
    t.notOk(echoed(pre.body), 'the backend never saw it');
    t.equal(pre.headers['access-control-allow-origin'], 'https://app.example.com');
    t.equal(pre.headers['access-control-allow-methods'], 'GET, PUT, DELETE');
    t.equal(pre.headers['access-control-allow-headers'], 'content-type, x-custom');
    t.equal(pre.headers['access-control-max-age'], '120');
    const wild = await get('cors.test', '/x', { origin: 'https://a.trusted.example', 'access-control-request-method': 'GET' }, 'OPTIONS');
    t.equal(wild.status, 204, 'a wildcard origin pattern');
    const bad = await get('cors.test', '/x', { origin: 'https://evil.example', 'access-control-request-method': 'GET' }, 'OPTIONS');
    t.equal(bad.status, 403, 'an unknown origin is refused');
    t.equal(bad.headers['access-control-allow-origin'], undefined);
    const badMethod = await get('cors.test', '/x', { origin: 'https://app.example.com', 'access-control-request-method': 'PATCH' }, 'OPTIONS');
    t.equal(badMethod.status, 403, 'a method not allowed is refused');
    const badHeader = await get('cors.test', '/x', { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-secret' }, 'OPTIONS');
    t.equal(badHeader.status, 403, 'a header not allowed is refused');
    const actual = await get('cors.test', '/x', { origin: 'https://app.example.com' });
    t.equal(actual.status, 200);
    t.equal(actual.headers['access-control-allow-origin'], 'https://app.example.com', 'actual response carries ACAO');
    t.equal(actual.headers['access-control-expose-headers'], 'x-echo-backend');
  });

  await t.test('IP allow and deny lists behind a trusted proxy', async (t) => {
    const via = (xff: string) => get('ips.test', '/', { 'x-forwarded-for': xff });
    t.equal((await via('10.2.3.4')).status, 200, 'allowed client behind the trusted proxy');
    t.equal((await via('10.1.2.3')).status, 403, 'denied range wins over allowed');
    t.equal((await via('8.8.8.8')).status, 403, 'outside the allow list');
    t.equal((await via('2001:db8::1')).status, 200, 'IPv6 in the allow list');
    t.equal((await via('2001:db9::1')).status, 403, 'IPv6 outside');
    t.equal((await via('8.8.8.8, 10.2.3.4')).status, 200, 'the right-most untrusted hop is the client');
    const denied = await via('10.1.0.9');
    t.equal(denied.headers['weft-error'], 'WEFT_ERR_IP_DENIED');
    const allowed = await via('10.2.3.4');
    t.equal(echoed(allowed.body)?.headers['x-forwarded-for'], '10.2.3.4, 127.0.0.1', 'X-Forwarded-For extended, not replaced, for a trusted proxy');
  });

  await t.test('body size limit, counted while streaming', async (t) => {
    t.equal((await get('body.test', '/', {}, 'POST', Buffer.alloc(500))).status, 200, 'under the limit');
    const big = await get('body.test', '/', {}, 'POST', Buffer.alloc(2000));
    t.equal(big.status, 413, 'declared length over the limit');
    t.equal(big.headers['weft-error'], 'WEFT_ERR_BODY_TOO_LARGE');
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${gw.http}/`, { method: 'POST', headers: { host: 'body.test', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      let sent = 0;
      const pump = (): void => {
        if (sent >= 3000) return void req.end();
        sent += 300;
        req.write(Buffer.alloc(300), () => setTimeout(pump, 5));
      };
      pump();
    });
    t.equal(chunked, 413, 'chunked body over the limit');
  });

  await t.test('rejections are counted per policy', async (t) => {
    const text = (await request(`${gw.admin}/metrics`)).body;
    t.match(text, /weft_gateway_policy_rejections_total\{route="test\/limited\/0",policy="RateLimitPolicy test\/hundred",code="WEFT_ERR_RATE_LIMITED"\} 900/);
  });
});

t.test('IP lists behind an untrusted proxy ignore X-Forwarded-For', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('app');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, GATEWAY + route('ips', 'ips.test') + policy('IpAccessPolicy', 'ips', 'ips', `  allow: [10.0.0.0/8]\n`));
  const gw = await mesh.startGateway(file);
  const res = await request(`${gw.http}/`, { headers: { host: 'ips.test', 'x-forwarded-for': '10.2.3.4' } });
  t.equal(res.status, 403, 'a forged X-Forwarded-For from an untrusted peer does not help');
});

t.test('three replicas share a limit of 90', async (t) => {
  const mesh = await GatewayMesh.create();
  t.teardown(() => mesh.close());
  await mesh.addService('app');
  const file = join(mesh.dir, 'routes.yaml');
  await writeFile(file, GATEWAY + route('limited', 'limited.test') + policy('RateLimitPolicy', 'ninety', 'edge', `  requests: 90\n  window: 24h\n  key: { type: Route }\n`, 'Gateway'));
  const gws: Awaited<ReturnType<typeof mesh.startGateway>>[] = [];
  for (let i = 0; i < 3; i++) gws.push(await mesh.startGateway(file, {}, { register: true }));
  // Each replica must see all three before the test counts.
  const deadline = Date.now() + 10_000;
  for (const gw of gws) {
    while (Date.now() < deadline && !/weft_gateway_ready_replicas 3/.test((await request(`${gw.admin}/metrics`)).body)) await new Promise((r) => setTimeout(r, 50));
  }
  const agents = gws.map(() => new http.Agent({ keepAlive: true, maxSockets: 20 }));
  const results = await Promise.all(
    Array.from({ length: 300 }, (_, i) => request(`${gws[i % 3]?.http}/`, { headers: { host: 'limited.test' }, agent: agents[i % 3] as http.Agent })),
  );
  for (const a of agents) a.destroy();
  const passed = results.filter((r) => r.status === 200).length;
  t.ok(passed >= 81 && passed <= 99, `${passed} of 300 passed across three replicas (limit 90 +- 10%)`);
  t.equal(results.filter((r) => r.status === 429).length, 300 - passed, 'the rest got 429');
});
