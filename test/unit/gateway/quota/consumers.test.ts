// Consumer and Plan objects read into the directory: keys from Secrets and inline, JWT subject and
// claim mappings, plans and the routes they cover, and the problems that reject an object.
import { createHash } from 'node:crypto';
import t from 'tap';
import { parseResources } from '../../../../gateway/routes/resources.js';
import { compileConsumers, consumerOfClaims, windowsFor, type ConsumerDirectory } from '../../../../gateway/consumers/directory.js';
import type { ObjectCondition } from '../../../../gateway/routes/conditions.js';

const sha = (k: string): string => createHash('sha256').update(k).digest('hex');

function read(text: string): { dir: ConsumerDirectory; conditions: ObjectCondition[]; problems: readonly string[] } {
  const parsed = parseResources(text, 'c.yaml');
  const conditions: ObjectCondition[] = [];
  const dir = compileConsumers(parsed.resources.policies, parsed.resources.secrets, conditions);
  return { dir, conditions, problems: parsed.problems };
}

const file = `
apiVersion: weft.dev/v1alpha1
kind: Plan
metadata: { name: gold }
spec:
  limits: [{ requests: 1000, per: day }, { requests: 10, per: second }]
  routes: [{ name: api }]
---
apiVersion: v1
kind: Secret
metadata: { name: alice-keys, labels: { weft.dev/consumer-keys: "true" } }
stringData: { old: ${sha('a1')}, new: "${sha('a2').toUpperCase()}" }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: alice }
spec:
  plan: gold
  apiKeys: [{ secretRef: { name: alice-keys } }, { keySha256: ${sha('a3')} }]
  jwt: { subjects: [alice@example.com], claims: [{ name: client_id, value: c-1 }] }
`;

t.test('keys from a Secret and inline name the consumer; subjects and claims map tokens to it', async (t) => {
  const { dir, conditions, problems } = read(file);
  t.same(problems, []);
  t.same(conditions, []);
  for (const k of ['a1', 'a2', 'a3']) t.equal(dir.byKeyHash.get(sha(k))?.name, 'alice', `key ${k}`);
  t.equal(dir.byKeyHash.get(sha('zz')), undefined);
  t.equal(consumerOfClaims(dir, { sub: 'alice@example.com' })?.name, 'alice');
  t.equal(consumerOfClaims(dir, { sub: 'other', client_id: 'c-1' })?.name, 'alice', 'a mapped claim');
  t.equal(consumerOfClaims(dir, { sub: 'other', client_id: ['x', 'c-1'] })?.name, 'alice', 'a claim holding a list');
  t.equal(consumerOfClaims(dir, { sub: 'other' }), undefined);
});

t.test("a plan's windows apply on the routes it covers, shortest first", async (t) => {
  const { dir } = read(file);
  const alice = dir.consumers[0];
  const covered = windowsFor(alice, { kind: 'HTTPRoute', namespace: 'default', name: 'api', rule: 0, label: 'default/api/0' });
  t.same(covered.map((w) => [w.name, w.requests, w.windowMs]), [['second', 10, 1000], ['day', 1000, 86_400_000]]);
  t.same(windowsFor(alice, { kind: 'HTTPRoute', namespace: 'default', name: 'web', rule: 0, label: 'default/web/0' }), [], 'another route is not covered');
});

t.test('a missing Secret degrades the consumer; its other credentials stay', async (t) => {
  const { dir, conditions } = read(file.replace(/apiVersion: v1\nkind: Secret[^]*?---/, ''));
  t.equal(dir.byKeyHash.get(sha('a3'))?.name, 'alice');
  t.equal(dir.byKeyHash.get(sha('a1')), undefined);
  t.match(conditions, [{ kind: 'Consumer', name: 'alice', type: 'Degraded', reasons: [/Secret default\/alice-keys was not found/] }]);
});

t.test('bad objects are rejected with their reasons', async (t) => {
  const bad = `
apiVersion: weft.dev/v1alpha1
kind: Plan
metadata: { name: p }
spec: { limits: [{ requests: 0, per: week }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: c }
spec: { plan: p, apiKeys: [{ keySha256: nothex }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: d }
spec: { apiKeys: [{ keySha256: ${sha('k')} }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: e }
spec: { apiKeys: [{ keySha256: ${sha('k')} }] }
`;
  const { dir, conditions, problems } = read(bad);
  t.match(problems.join('\n'), /spec\.limits\[0\]\.requests/);
  t.match(problems.join('\n'), /spec\.limits\[0\]\.per: "week" is not one of second, minute, hour, day, month/);
  t.match(problems.join('\n'), /spec\.plan: Plan default\/p does not exist or was rejected/);
  t.match(problems.join('\n'), /keySha256: must be 64 lowercase hex/);
  t.match(problems.join('\n'), /a key is given to Consumer default\/d already/);
  t.same(dir.consumers.map((c) => c.name), ['d']);
  t.same(conditions.map((c) => `${c.kind}/${c.name}:${c.type}`), ['Plan/p:Rejected', 'Consumer/c:Rejected', 'Consumer/e:Rejected']);
});
