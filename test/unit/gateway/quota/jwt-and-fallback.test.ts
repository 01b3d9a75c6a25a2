// Two paths the end-to-end tests do not take: a verified token whose subject or claim maps to a
// Consumer (the JWT step names it, so its plan applies), and the Redis backend failing closed
// (refused, counted, logged once) or open (counted locally) when Redis rejects the call.
import t from 'tap';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Registry } from 'prom-client';
import { JwtVerifier, jwtStep } from '../../../../gateway/policies/jwt.js';
import type { PolicyEnv, PolicyExchange } from '../../../../gateway/policies/policy.js';
import type { Wait } from '../../../../gateway/chain.js';
import { parseResources } from '../../../../gateway/routes/resources.js';
import { compileConsumers } from '../../../../gateway/consumers/directory.js';
import { RedisQuota } from '../../../../gateway/quota/redis-quota.js';
import { SlidingWindowQuota } from '../../../../gateway/quota/sliding-window.js';
import { createLogger } from '../../../../lib/logger.js';
import { FakeTimers } from '../../../support/fake-timers.js';

const dir = compileConsumers(
  parseResources(
    `apiVersion: weft.dev/v1alpha1
kind: Plan
metadata: { name: gold }
spec: { limits: [{ requests: 5, per: minute }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: alice }
spec: { plan: gold, jwt: { subjects: [alice@example.com], claims: [{ name: client_id, value: c-7 }] } }
`,
    'c.yaml',
  ).resources.policies,
  [],
  [],
);

t.test('a verified token names the Consumer its subject or claim maps to', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' };
  const v = new JwtVerifier({ issuer: 'i', audiences: [], algorithms: ['ES256'], clockSkewSeconds: 0, jwks: { keys: [jwk] }, claimHeaders: [], consumerClaim: 'sub', jwksCooldownMs: 0, rules: { claims: [], scopes: [] } });
  const env = { clock: () => Date.now(), readyReplicas: () => 1, limiter: { take: () => ({ allowed: true, limit: 1, remaining: 1, resetSeconds: 1 }) } } satisfies PolicyEnv;
  const run = async (claims: Record<string, unknown>): Promise<PolicyExchange> => {
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer('i').setExpirationTime('1h').sign(privateKey);
    const x = { req: { headers: { authorization: `Bearer ${token}` } }, headers: {}, consumer: undefined, consumers: dir, account: undefined } as unknown as PolicyExchange;
    await (jwtStep(x, { name: 'JwtPolicy d/j', value: v }, env) as Wait).until;
    return x;
  };
  const bySub = await run({ sub: 'alice@example.com' });
  t.equal(bySub.account?.name, 'alice');
  t.equal(bySub.account?.plan?.name, 'gold', 'with its plan');
  t.equal(bySub.consumer, 'alice');
  const byClaim = await run({ sub: 'svc-account-1', client_id: 'c-7' });
  t.equal(byClaim.account?.name, 'alice', 'a mapped claim');
  t.equal(byClaim.consumer, 'alice');
  const other = await run({ sub: 'stranger' });
  t.equal(other.account, undefined, 'an unmapped token has no Consumer');
  t.equal(other.consumer, 'stranger', 'but keeps its subject as the rate-limit consumer, as before');
});

t.test('Redis rejecting the call: fail-closed refuses, fail-open counts locally; both counted, logged once', async (t) => {
  const windows = dir.plans[0]?.limits ?? [];
  const failing = {
    defineCommand: () => undefined,
    weftQuotaTake: () => Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false")),
  } as unknown as Redis;
  for (const failClosed of [true, false]) {
    const registry = new Registry();
    const lines: string[] = [];
    const fallbacks = new Counter({ name: 'f', help: 'f', labelNames: ['mode'] as const, registers: [registry] });
    const up = new Gauge({ name: 'u', help: 'u', registers: [registry] });
    const q = new RedisQuota({
      redis: failing,
      fallback: new SlidingWindowQuota(),
      failClosed,
      log: createLogger({ level: 'info', name: 'test', destination: { write: (s: string) => void lines.push(s) } }),
      fallbacks,
      up,
      timeoutMs: 100,
      timers: new FakeTimers(),
    });
    const results = await Promise.all(Array.from({ length: 7 }, () => q.take('k', windows, 1_000_000)));
    if (failClosed) t.same(results.map((r) => r.kind), Array(7).fill('unavailable'), 'fail-closed: every request refused');
    else t.same(results.map((r) => (r.kind === 'counted' ? r.decision.allowed : 'x')), [true, true, true, true, true, false, false], 'fail-open: counted by the local limit of 5');
    t.equal((await fallbacks.get()).values[0]?.value, 7, 'each counted as a fallback');
    t.equal((await fallbacks.get()).values[0]?.labels.mode, failClosed ? 'closed' : 'open');
    t.equal((await up.get()).values[0]?.value, 0);
    t.equal(lines.filter((l) => l.includes('quota backend unreachable')).length, 1, 'logged once');
  }
});
