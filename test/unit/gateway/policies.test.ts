// Pure policy cores: CIDRs and client IPs, the fixed-window limiter, CORS, API key hashing,
// JWT verification with an injected clock, and route-over-gateway attachment.
import t from 'tap';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { cidrContains, clientIp, parseCidr, type Cidr } from '../../../gateway/policies/cidr.js';
import { RateLimiter, replicaShare } from '../../../gateway/policies/rate-limit.js';
import { actualResponseHeaders, originAllowed, preflightResponse, type CorsConfig } from '../../../gateway/policies/cors.js';
import { checkApiKey, hashKey } from '../../../gateway/policies/api-key.js';
import { JwtVerifier } from '../../../gateway/policies/jwt.js';
import { parseResources } from '../../../gateway/routes/resources.js';
import { compilePolicies } from '../../../gateway/policies/policy-set.js';

const cidr = (s: string): Cidr => parseCidr(s) as Cidr;

t.test('CIDRs match IPv4, IPv6 and IPv4-mapped addresses', async (t) => {
  const rows: [string, string, boolean][] = [
    ['10.0.0.0/8', '10.255.1.2', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['10.1.0.0/16', '::ffff:10.1.2.3', true],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['::1', '::1', true],
    ['0.0.0.0/0', '1.2.3.4', true],
    ['10.0.0.0/8', '2001:db8::1', false],
  ];
  for (const [c, ip, want] of rows) t.equal(cidrContains(cidr(c), ip), want, `${c} ${ip}`);
  t.type(parseCidr('10.0.0.0/33'), 'string');
  t.type(parseCidr('nope'), 'string');
});

t.test('X-Forwarded-For is believed only from trusted proxies', async (t) => {
  const trusted = [cidr('127.0.0.1'), cidr('10.9.0.0/16')];
  t.equal(clientIp('8.8.8.8', '1.2.3.4', trusted), '8.8.8.8', 'untrusted peer: its own address');
  t.equal(clientIp('127.0.0.1', '1.2.3.4', trusted), '1.2.3.4');
  t.equal(clientIp('127.0.0.1', '6.6.6.6, 1.2.3.4, 10.9.1.1', trusted), '1.2.3.4', 'right-most untrusted hop');
  t.equal(clientIp('127.0.0.1', 'garbage', trusted), '127.0.0.1');
  t.equal(clientIp('::ffff:127.0.0.1', undefined, trusted), '127.0.0.1');
});

t.test('the limiter counts exactly per fixed window and resets on the boundary', async (t) => {
  const l = new RateLimiter();
  const results = Array.from({ length: 150 }, () => l.take('k', 100, 60_000, 120_500));
  t.equal(results.filter((r) => r.allowed).length, 100);
  t.same(results[99], { allowed: true, limit: 100, remaining: 0, resetSeconds: 60 });
  t.equal(results[100]?.allowed, false);
  t.equal(l.take('k', 100, 60_000, 179_999).allowed, false, 'same window');
  t.equal(l.take('k', 100, 60_000, 180_000).allowed, true, 'next window');
  t.equal(l.take('other', 1, 60_000, 180_000).allowed, true, 'keys are separate');
  t.equal(replicaShare(90, 3), 30);
  t.equal(replicaShare(100, 3), 33);
  t.equal(replicaShare(2, 5), 1, 'never below one');
  t.equal(replicaShare(90, 0), 90);
});

t.test('CORS decisions', async (t) => {
  const cfg: CorsConfig = { allowOrigins: ['https://a.test', 'https://*.b.test'], allowMethods: ['GET', 'PUT'], allowHeaders: ['x-h'], exposeHeaders: [], allowCredentials: true, maxAgeSeconds: 10 };
  t.ok(originAllowed(cfg, 'https://x.b.test'));
  t.notOk(originAllowed(cfg, 'https://b.test'));
  t.notOk(originAllowed(cfg, 'http://x.b.test'));
  t.equal(preflightResponse(cfg, 'https://a.test', 'PUT', 'X-H').status, 204);
  t.equal(preflightResponse(cfg, 'https://a.test', 'DELETE', undefined).status, 403);
  t.equal(preflightResponse(cfg, 'https://a.test', 'PUT', 'x-other').status, 403);
  t.equal(preflightResponse({ ...cfg, allowOrigins: ['*'] }, 'https://z.test', 'GET', undefined).headers['access-control-allow-origin'], 'https://z.test', 'credentials echo the origin instead of *');
  t.same(actualResponseHeaders(cfg, 'https://evil.test'), {});
});

t.test('API keys are compared by sha256', async (t) => {
  const cfg = { source: { header: 'x-api-key' }, consumers: new Map([[hashKey('s3cret'), 'alice']]), consumerHeader: 'x-weft-consumer' };
  t.same(checkApiKey(cfg, 's3cret'), { ok: true, consumer: 'alice' });
  t.same(checkApiKey(cfg, 'S3cret'), { ok: false, reason: 'unknown' });
  t.same(checkApiKey(cfg, undefined), { ok: false, reason: 'missing' });
});

t.test('JWT verification uses the injected clock and its skew', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' };
  const v = new JwtVerifier({ issuer: 'i', audiences: ['a'], algorithms: ['ES256'], clockSkewSeconds: 30, jwks: { keys: [jwk] }, claimHeaders: [{ claim: 'sub', header: 'x-sub' }], consumerClaim: 'sub', jwksCooldownMs: 0 });
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer('i').setAudience('a').setSubject('u1').setNotBefore(1_000_000).setExpirationTime(1_000_100).sign(privateKey);
  const at = (s: number) => v.verify(`Bearer ${token}`, new Date(s * 1000));
  t.same(await at(1_000_050).then((r) => r.ok && r.headers), { 'x-sub': 'u1' });
  t.equal((await at(1_000_120)).ok, true, 'expired 20 s ago, within 30 s skew');
  t.equal((await at(1_000_200)).ok, false, 'expired beyond the skew');
  t.equal((await at(999_960)).ok, false, 'not yet valid beyond the skew');
  t.equal((await v.verify(undefined, new Date())).ok, false);
});

t.test('a route policy overrides the gateway policy of the same kind', async (t) => {
  const text = `apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: gw, namespace: d }
spec: { targetRef: { kind: Gateway, name: edge }, requests: 100, window: 1m }
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: rt, namespace: d }
spec: { targetRef: { kind: HTTPRoute, name: r }, requests: 5, window: 1s, key: { type: Consumer } }
---
apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: bad, namespace: d }
spec: { targetRef: { kind: HTTPRoute, name: r }, allowOrigins: ["ftp://x"], colour: red }
`;
  const parsed = parseResources(text, 'p.yaml');
  const set = compilePolicies(parsed.resources.policies, () => '');
  const onRoute = set.effective({ namespace: 'd', name: 'edge' }, { kind: 'HTTPRoute', namespace: 'd', name: 'r', rule: 0, label: '' });
  t.equal(onRoute.rateLimit?.value.limit, 5);
  t.equal(onRoute.rateLimit?.name, 'RateLimitPolicy d/rt');
  const other = set.effective({ namespace: 'd', name: 'edge' }, { kind: 'HTTPRoute', namespace: 'd', name: 'other', rule: 0, label: '' });
  t.equal(other.rateLimit?.value.limit, 100, 'other routes get the gateway policy');
  t.ok(parsed.problems.some((p) => /document 3 \(CorsPolicy d\/bad\): spec\.allowOrigins\[0\]/.test(p)), 'bad origin reported');
  t.ok(parsed.problems.some((p) => /spec\.colour: unknown field/.test(p)), 'unknown field reported');
});
