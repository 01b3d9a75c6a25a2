// JwtPolicy's claim and scope requirements: the parser's problems, the pure matcher over a table
// of payloads, the verifier's 403-shaped result, and the step dropping client-sent claim headers.
import { NO_CONSUMERS } from '../../../gateway/consumers/directory.js';
import t from 'tap';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { checkClaims, readClaimHeaders, readClaimRules, tokenScopes, type ClaimRules } from '../../../gateway/policies/jwt-claims.js';
import { JwtVerifier, jwtStep } from '../../../gateway/policies/jwt.js';
import { FieldReader, ProblemList, type Json } from '../../../gateway/routes/field-reader.js';
import type { PolicyEnv, PolicyExchange } from '../../../gateway/policies/policy.js';
import type { Refusal, StepResult, Wait } from '../../../gateway/chain.js';

function read<T>(spec: Json, fn: (spec: Json, r: FieldReader) => T): { value: T; problems: readonly string[] } {
  const problems = new ProblemList();
  const value = fn(spec, new FieldReader(problems, { file: 'p.yaml', doc: 1, what: 'JwtPolicy d/j' }));
  return { value, problems: problems.items };
}

t.test('requiredClaims and requiredScopes parse into rules', async (t) => {
  const { value, problems } = read(
    { requiredClaims: [{ claim: 'tenant', value: 'acme' }, { claim: 'role', oneOf: ['admin', 'ops'] }, { claim: 'email' }], requiredScopes: ['orders:read', 'orders:write'] },
    readClaimRules,
  );
  t.same(problems, []);
  t.same(value, {
    claims: [{ claim: 'tenant', anyOf: ['acme'] }, { claim: 'role', anyOf: ['admin', 'ops'] }, { claim: 'email' }],
    scopes: ['orders:read', 'orders:write'],
  });
});

t.test('the claim parser names each mistake by its field path', async (t) => {
  const rows: [string, Json, RegExp][] = [
    ['no claim name', { requiredClaims: [{ value: 'x' }] }, /spec\.requiredClaims\[0\]\.claim: is required/],
    ['empty claim name', { requiredClaims: [{ claim: '' }] }, /spec\.requiredClaims\[0\]\.claim: must not be empty/],
    ['value and oneOf', { requiredClaims: [{ claim: 'a', value: 'x', oneOf: ['y'] }] }, /spec\.requiredClaims\[0\]: set at most one of value and oneOf/],
    ['empty oneOf', { requiredClaims: [{ claim: 'a', oneOf: [] }] }, /spec\.requiredClaims\[0\]\.oneOf: needs at least one value/],
    ['oneOf not a list', { requiredClaims: [{ claim: 'a', oneOf: 'x' }] }, /spec\.requiredClaims\[0\]\.oneOf: must be a list of strings/],
    ['non-string value', { requiredClaims: [{ claim: 'a', value: true }] }, /spec\.requiredClaims\[0\]\.value: must be a string, not boolean true/],
    ['non-string oneOf item', { requiredClaims: [{ claim: 'a', oneOf: ['x', 3] }] }, /spec\.requiredClaims\[0\]\.oneOf\[1\]: must be a string/],
    ['unknown field', { requiredClaims: [{ claim: 'a', values: ['x'] }] }, /spec\.requiredClaims\[0\]\.values: unknown field/],
    ['claim twice', { requiredClaims: [{ claim: 'a' }, { claim: 'a', value: 'x' }] }, /spec\.requiredClaims\[1\]\.claim: "a" is required twice/],
    ['not a list', { requiredClaims: { claim: 'a' } }, /spec\.requiredClaims: must be a list/],
    ['scope with a space', { requiredScopes: ['read write'] }, /spec\.requiredScopes\[0\]: "read write" is not one OAuth scope/],
    ['empty scope', { requiredScopes: [''] }, /spec\.requiredScopes\[0\]: "" is not one OAuth scope/],
    ['scope twice', { requiredScopes: ['a', 'a'] }, /spec\.requiredScopes\[1\]: "a" is listed twice/],
    ['scope not a string', { requiredScopes: [5] }, /spec\.requiredScopes\[0\]: must be a string/],
  ];
  for (const [name, spec, want] of rows) {
    const { problems } = read(spec, readClaimRules);
    t.ok(problems.some((p) => want.test(p)), `${name}: ${problems.join(' | ') || 'no problem'}`);
    t.ok(problems.every((p) => p.startsWith('p.yaml: document 1 (JwtPolicy d/j): ')), `${name}: located`);
  }
});

t.test('claimsToHeaders refuses invalid, reserved and repeated header names', async (t) => {
  const rows: [string, Json, RegExp | undefined][] = [
    ['fine', { claimsToHeaders: [{ claim: 'sub', header: 'X-User' }] }, undefined],
    ['bad name', { claimsToHeaders: [{ claim: 'sub', header: 'x user' }] }, /claimsToHeaders\[0\]\.header: "x user" is not a valid header name/],
    ['host', { claimsToHeaders: [{ claim: 'sub', header: 'Host' }] }, /claimsToHeaders\[0\]\.header: "Host" cannot carry a claim/],
    ['authorization', { claimsToHeaders: [{ claim: 'sub', header: 'authorization' }] }, /cannot carry a claim/],
    ['twice by case', { claimsToHeaders: [{ claim: 'sub', header: 'x-u' }, { claim: 'tid', header: 'X-U' }] }, /claimsToHeaders\[1\]\.header: "X-U" receives two claims/],
    ['no claim', { claimsToHeaders: [{ header: 'x-u' }] }, /claimsToHeaders\[0\]\.claim: is required/],
  ];
  for (const [name, spec, want] of rows) {
    const { value, problems } = read(spec, readClaimHeaders);
    if (want === undefined) {
      t.same(problems, [], name);
      t.same(value, [{ claim: 'sub', header: 'x-user' }], 'the header name is lowercased');
    } else t.ok(problems.some((p) => want.test(p)), `${name}: ${problems.join(' | ') || 'no problem'}`);
  }
});

t.test('scopes come from scope (space-separated) and scp (a list or a string)', async (t) => {
  t.same([...tokenScopes({ scope: 'a b  c' })], ['a', 'b', 'c']);
  t.same([...tokenScopes({ scp: ['x', 'y', 3] })], ['x', 'y']);
  t.same([...tokenScopes({ scp: 'x y' })], ['x', 'y']);
  t.same([...tokenScopes({ scope: 'a', scp: ['b'] })], ['a', 'b']);
  t.same([...tokenScopes({ scope: 7 })], []);
});

t.test('the matcher accepts and refuses as written', async (t) => {
  const rules = (claims: ClaimRules['claims'], scopes: string[] = []): ClaimRules => ({ claims, scopes });
  const tenant = rules([{ claim: 'tenant', anyOf: ['acme'] }]);
  const role = rules([{ claim: 'role', anyOf: ['admin', 'ops'] }]);
  const present = rules([{ claim: 'email' }]);
  const scoped = rules([], ['orders:read', 'orders:write']);
  const rows: [string, ClaimRules, Record<string, unknown>, boolean, RegExp?][] = [
    ['exact value', tenant, { tenant: 'acme' }, true],
    ['exact value differs', tenant, { tenant: 'acme-admin' }, false, /claim "tenant" is not "acme"/],
    ['exact value differs by case', tenant, { tenant: 'ACME' }, false],
    ['claim missing', tenant, { sub: 'u' }, false, /the token has no "tenant" claim/],
    ['claim null', tenant, { tenant: null }, false, /no "tenant" claim/],
    ['list claim holds the value', tenant, { tenant: ['beta', 'acme'] }, true],
    ['list claim lacks the value', tenant, { tenant: ['beta'] }, false],
    ['object claim never matches', tenant, { tenant: { name: 'acme' } }, false],
    ['one of: first', role, { role: 'admin' }, true],
    ['one of: second', role, { role: 'ops' }, true],
    ['one of: neither', role, { role: 'dev' }, false, /claim "role" is not one of "admin", "ops"/],
    ['boolean compared as text', rules([{ claim: 'email_verified', anyOf: ['true'] }]), { email_verified: true }, true],
    ['false is not true', rules([{ claim: 'email_verified', anyOf: ['true'] }]), { email_verified: false }, false],
    ['number compared as text', rules([{ claim: 'level', anyOf: ['3'] }]), { level: 3 }, true],
    ['presence: any value', present, { email: 'a@b' }, true],
    ['presence: empty string is present', present, { email: '' }, true],
    ['presence: missing', present, {}, false],
    ['scope string has both', scoped, { scope: 'orders:write openid orders:read' }, true],
    ['scope string has one', scoped, { scope: 'orders:read' }, false, /lacks scope orders:write/],
    ['scp list has both', scoped, { scp: ['orders:read', 'orders:write'] }, true],
    ['scp list has one', scoped, { scp: ['orders:write'] }, false, /lacks scope orders:read/],
    ['split across scope and scp', scoped, { scope: 'orders:read', scp: ['orders:write'] }, true],
    ['no scopes at all', scoped, { sub: 'u' }, false, /lacks scope orders:read orders:write/],
    ['a scope is not a prefix', scoped, { scope: 'orders:read orders:writer' }, false],
    ['no rules', rules([]), {}, true],
    ['claim and scope both needed', rules([{ claim: 'tenant', anyOf: ['acme'] }], ['x']), { tenant: 'acme', scope: 'y' }, false],
  ];
  for (const [name, r, payload, ok, reason] of rows) {
    const v = checkClaims(r, payload);
    t.equal(v.ok, ok, name);
    if (!v.ok && reason) t.match(v.reason, reason, `${name}: reason`);
  }
  const v = checkClaims(scoped, { scope: 'orders:read' });
  t.same(!v.ok && v.missingScopes, ['orders:write'], 'the missing scopes are listed');
});

t.test('the JWT step drops client copies of claim headers and refuses a missing claim with 403 code', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' };
  const v = new JwtVerifier({
    issuer: 'i',
    audiences: [],
    algorithms: ['ES256'],
    clockSkewSeconds: 0,
    jwks: { keys: [jwk] },
    claimHeaders: [{ claim: 'tenant', header: 'x-tenant' }],
    consumerClaim: 'sub',
    jwksCooldownMs: 0,
    rules: { claims: [], scopes: ['orders:read'] },
  });
  const sign = (claims: Record<string, unknown>): Promise<string> => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer('i').setExpirationTime('1h').sign(privateKey);
  const env = { clock: () => Date.now(), readyReplicas: () => 1, limiter: { take: () => ({ allowed: true, limit: 1, remaining: 1, resetSeconds: 1 }) } } satisfies PolicyEnv;
  const run = async (token: string | undefined, headers: Record<string, string | string[]>): Promise<{ result: StepResult; x: PolicyExchange }> => {
    const x = {
      req: { headers: token ? { authorization: `Bearer ${token}` } : {} },
      headers: { ...headers },
      consumer: undefined,
      consumers: NO_CONSUMERS,
      account: undefined,
    } as unknown as PolicyExchange;
    const w = jwtStep(x, { name: 'JwtPolicy d/j', value: v }, env) as Wait;
    return { result: await w.until, x };
  };

  const noClaim = await run(await sign({ scope: 'orders:read' }), { 'x-tenant': 'acme-admin', 'x-other': 'kept' });
  t.equal(noClaim.result, 'continue');
  t.notOk('x-tenant' in noClaim.x.headers, 'a token without the claim: the forged header is gone');
  t.equal(noClaim.x.headers['x-other'], 'kept');

  const withClaim = await run(await sign({ scope: 'orders:read', tenant: 'acme' }), { 'x-tenant': ['acme-admin', 'evil'] });
  t.equal(withClaim.x.headers['x-tenant'], 'acme', 'the claim replaces every client copy');

  const refused = await run(undefined, { 'x-tenant': 'acme-admin' });
  t.equal((refused.result as Refusal).code, 'WEFT_ERR_UNAUTHORIZED', 'no token: 401 code');
  t.notOk('x-tenant' in refused.x.headers, 'dropped even when the token is refused');

  const noScope = await run(await sign({ scope: 'orders:write' }), {});
  const r = noScope.result as Refusal;
  t.equal(r.code, 'WEFT_ERR_JWT_CLAIM', 'a valid token without the scope: the claim code');
  t.match(r.headers?.['www-authenticate'], /error="insufficient_scope", scope="orders:read"/);
});
