// The compiled authorization decision over a table of identity / port / method / path / policy
// cases, the path normalization rules see, and the policy parser's refusals.
import t from 'tap';
import { compileAuthorizer, normalizePath, type PodTarget } from '../../../../mesh/authz/decide.js';
import { parsePolicySection, type PolicySet } from '../../../../mesh/authz/policy.js';
import { forNamespace } from '../../../../mesh/authz/policy-source.js';
import { isWeftError } from '../../../../lib/errors.js';

const id = (ns: string, sa: string, td = 'cluster.local'): string => `spiffe://${td}/ns/${ns}/sa/${sa}`;
const CLIENT = id('demo', 'client');
const INTRUDER = id('demo', 'intruder');
const OPS = id('ops', 'admin');
const OTHER_TD = id('demo', 'client', 'other.example');
const pod: PodTarget = { namespace: 'demo', labels: { app: 'hello' }, trustDomain: 'cluster.local', defaultPolicy: undefined };

const policy = (name: string, action: string, rules: unknown[], extra: Record<string, unknown> = {}): unknown => ({
  apiVersion: 'policy.weft.dev/v1alpha1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace: (extra.namespace as string | undefined) ?? 'demo' },
  spec: { action, rules, ...(extra.selector ? { selector: extra.selector } : {}) },
});
const set = (policies: unknown[], namespaces: Record<string, unknown> = {}): PolicySet => parsePolicySection({ policies, namespaces }, 'test');

// One policy set per scenario; each case: [peer, port, method (undefined: TCP), path, allowed, deciding policy].
type Case = readonly [string, number, string | undefined, string | undefined, boolean, string];
const scenarios: { name: string; set: PolicySet; pod?: PodTarget; cases: Case[] }[] = [
  {
    name: 'no policy: the default all-unauthenticated allows everyone',
    set: set([]),
    cases: [
      [CLIENT, 8080, 'GET', '/', true, 'default:all-unauthenticated'],
      [INTRUDER, 8080, 'POST', '/admin', true, 'default:all-unauthenticated'],
      [OTHER_TD, 9000, undefined, undefined, true, 'default:all-unauthenticated'],
    ],
  },
  {
    name: 'only the client may call /admin; everyone may call the rest',
    set: set([
      policy('admin-closed', 'DENY', [{ from: { principals: ['spiffe://cluster.local/ns/*'] }, to: { paths: ['/admin', '/admin/*'] } }]),
      policy('admin-client', 'ALLOW', [{ from: { serviceAccounts: ['client'] }, to: { paths: ['/admin', '/admin/*'] } }, { to: { paths: ['/', '/public/*', '/hello'] } }]),
    ]),
    cases: [
      // The DENY above also catches the client: DENY wins over ALLOW.
      [CLIENT, 8080, 'GET', '/admin', false, 'demo/admin-closed'],
      [INTRUDER, 8080, 'GET', '/admin', false, 'demo/admin-closed'],
      [INTRUDER, 8080, 'GET', '/public/x', true, 'demo/admin-client'],
      [INTRUDER, 8080, 'GET', '/hello', true, 'demo/admin-client'],
      [INTRUDER, 8080, 'GET', '/other', false, 'no-allow-match'],
    ],
  },
  {
    name: 'ALLOW by service account and prefix; everything else denied',
    set: set([
      policy('hello-admin', 'ALLOW', [{ from: { serviceAccounts: ['client', 'ops/admin'] }, to: { paths: ['/admin', '/admin/*'] } }, { to: { paths: ['/public/*'] } }]),
    ]),
    cases: [
      [CLIENT, 8080, 'GET', '/admin', true, 'demo/hello-admin'],
      [CLIENT, 8080, 'GET', '/admin/users', true, 'demo/hello-admin'],
      [CLIENT, 8080, 'GET', '/admin?x=1', true, 'demo/hello-admin'],
      [OPS, 8080, 'DELETE', '/admin/users/1', true, 'demo/hello-admin'],
      [INTRUDER, 8080, 'GET', '/admin', false, 'no-allow-match'],
      [INTRUDER, 8080, 'GET', '/admin/users', false, 'no-allow-match'],
      [INTRUDER, 8080, 'GET', '/public/../admin', false, 'no-allow-match'],
      [INTRUDER, 8080, 'GET', '/public/%2e%2e/admin', false, 'no-allow-match'],
      [INTRUDER, 8080, 'GET', '/public/index.html', true, 'demo/hello-admin'],
      [INTRUDER, 8080, 'GET', '/publicity', false, 'no-allow-match'],
      [CLIENT, 8080, 'GET', '/administrator', false, 'no-allow-match'],
      [id('other', 'client'), 8080, 'GET', '/admin', false, 'no-allow-match'],
      [CLIENT, 8080, undefined, undefined, false, 'no-allow-match'],
    ],
  },
  {
    name: 'method rules: GET and HEAD for all, writes for the client only',
    set: set([policy('reads', 'ALLOW', [{ to: { methods: ['get', 'HEAD'] } }]), policy('writes', 'ALLOW', [{ from: { principals: [CLIENT] }, to: { methods: ['POST', 'PUT'], ports: [8080] } }])]),
    cases: [
      [INTRUDER, 8080, 'GET', '/orders', true, 'demo/reads'],
      [INTRUDER, 8080, 'HEAD', '/orders', true, 'demo/reads'],
      [INTRUDER, 8080, 'POST', '/orders', false, 'no-allow-match'],
      [INTRUDER, 8080, 'DELETE', '/orders', false, 'no-allow-match'],
      [CLIENT, 8080, 'POST', '/orders', true, 'demo/writes'],
      [CLIENT, 8080, 'put', '/orders', true, 'demo/writes'],
      [CLIENT, 9090, 'POST', '/orders', false, 'no-allow-match'],
      [CLIENT, 8080, 'PATCH', '/orders', false, 'no-allow-match'],
    ],
  },
  {
    name: 'principal wildcards and namespaces',
    set: set([
      policy('from-ops', 'ALLOW', [{ from: { namespaces: ['ops'] } }]),
      policy('from-demo-prefix', 'ALLOW', [{ from: { principals: ['spiffe://cluster.local/ns/demo/sa/client*'] }, to: { ports: [8080] } }]),
    ]),
    cases: [
      [OPS, 8080, 'GET', '/', true, 'demo/from-ops'],
      [OPS, 5432, undefined, undefined, true, 'demo/from-ops'],
      [id('ops', 'other'), 9000, 'PUT', '/x', true, 'demo/from-ops'],
      [CLIENT, 8080, 'GET', '/', true, 'demo/from-demo-prefix'],
      [id('demo', 'client-batch'), 8080, 'GET', '/', true, 'demo/from-demo-prefix'],
      [CLIENT, 8081, 'GET', '/', false, 'no-allow-match'],
      [INTRUDER, 8080, 'GET', '/', false, 'no-allow-match'],
      [OTHER_TD, 8080, 'GET', '/', false, 'no-allow-match'],
      ['spiffe://cluster.local/ns/opsx/sa/a', 8080, 'GET', '/', false, 'no-allow-match'],
    ],
  },
  {
    name: 'DENY overrides ALLOW, and a DENY naming HTTP fields still refuses TCP',
    set: set([
      policy('allow-all', 'ALLOW', [{}]),
      policy('no-intruder', 'DENY', [{ from: { serviceAccounts: ['intruder'] } }]),
      policy('no-delete', 'DENY', [{ to: { methods: ['DELETE'], ports: [8080] } }]),
    ]),
    cases: [
      [INTRUDER, 8080, 'GET', '/', false, 'demo/no-intruder'],
      [INTRUDER, 5432, undefined, undefined, false, 'demo/no-intruder'],
      [CLIENT, 8080, 'GET', '/', true, 'demo/allow-all'],
      [CLIENT, 8080, 'DELETE', '/x', false, 'demo/no-delete'],
      [CLIENT, 9090, 'DELETE', '/x', true, 'demo/allow-all'],
      [CLIENT, 8080, undefined, undefined, false, 'demo/no-delete'],
      [CLIENT, 5432, undefined, undefined, true, 'demo/allow-all'],
    ],
  },
  {
    name: 'TCP: an ALLOW naming methods cannot match a connection; one naming only ports can',
    set: set([policy('db', 'ALLOW', [{ from: { serviceAccounts: ['client'] }, to: { ports: [5432] } }, { to: { ports: [6379], methods: ['GET'] } }])]),
    cases: [
      [CLIENT, 5432, undefined, undefined, true, 'demo/db'],
      [INTRUDER, 5432, undefined, undefined, false, 'no-allow-match'],
      [CLIENT, 6379, undefined, undefined, false, 'no-allow-match'],
      [CLIENT, 6379, 'GET', '/', true, 'demo/db'],
    ],
  },
  {
    name: 'selectors: a policy for other labels or another namespace does not apply',
    set: set([
      policy('for-web', 'DENY', [{}], { selector: { matchLabels: { app: 'web' } } }),
      policy('elsewhere', 'DENY', [{}], { namespace: 'shop' }),
      policy('for-hello', 'ALLOW', [{ to: { paths: ['*'] } }], { selector: { matchLabels: { app: 'hello' } } }),
    ]),
    cases: [
      [INTRUDER, 8080, 'GET', '/anything', true, 'demo/for-hello'],
      [CLIENT, 8080, 'POST', '/', true, 'demo/for-hello'],
    ],
  },
  {
    name: 'notPaths: everything but /admin for everyone, /admin for the client',
    set: set([policy('hello', 'ALLOW', [{ from: { serviceAccounts: ['client'] }, to: { paths: ['/admin', '/admin/*'] } }, { to: { notPaths: ['/admin', '/admin/*'] } }])]),
    cases: [
      [INTRUDER, 8080, 'GET', '/', true, 'demo/hello'],
      [INTRUDER, 8080, 'GET', '/check', true, 'demo/hello'],
      [INTRUDER, 8080, 'GET', '/admin', false, 'no-allow-match'],
      [INTRUDER, 8080, 'GET', '/x/../admin/y', false, 'no-allow-match'],
      [INTRUDER, 8080, 'GET', '/administrator', true, 'demo/hello'],
      [CLIENT, 8080, 'GET', '/admin/y', true, 'demo/hello'],
      [INTRUDER, 8080, undefined, undefined, false, 'no-allow-match'],
    ],
  },
  {
    name: 'namespace default deny',
    set: set([], { demo: { defaultInboundPolicy: 'deny' } }),
    cases: [
      [CLIENT, 8080, 'GET', '/', false, 'default:deny'],
      [OPS, 5432, undefined, undefined, false, 'default:deny'],
    ],
  },
  {
    name: 'namespace default cluster-authenticated: same trust domain only',
    set: set([], { demo: { defaultInboundPolicy: 'cluster-authenticated' } }),
    cases: [
      [CLIENT, 8080, 'GET', '/', true, 'default:cluster-authenticated'],
      [OTHER_TD, 8080, 'GET', '/', false, 'default:cluster-authenticated'],
    ],
  },
  {
    name: "the pod's own default beats the namespace's",
    set: set([], { demo: { defaultInboundPolicy: 'deny' } }),
    pod: { ...pod, defaultPolicy: 'all-authenticated' },
    cases: [
      [OTHER_TD, 8080, 'GET', '/', true, 'default:all-authenticated'],
      ['', 8080, 'GET', '/', false, 'default:all-authenticated'],
    ],
  },
  {
    name: 'a DENY-only pod falls back to its default for the rest',
    set: set([policy('no-admin', 'DENY', [{ to: { paths: ['/admin/*'] } }])], { demo: { defaultInboundPolicy: 'all-authenticated' } }),
    cases: [
      [CLIENT, 8080, 'GET', '/admin/x', false, 'demo/no-admin'],
      [CLIENT, 8080, 'GET', '//admin//x', false, 'demo/no-admin'],
      [CLIENT, 8080, 'GET', '/%61dmin/x', false, 'demo/no-admin'],
      [CLIENT, 8080, 'GET', '/x', true, 'default:all-authenticated'],
    ],
  },
];

let total = 0;
for (const scenario of scenarios) {
  t.test(scenario.name, async (t) => {
    const authorizer = compileAuthorizer(scenario.set, scenario.pod ?? pod);
    for (const [peer, port, method, path, allowed, by] of scenario.cases) {
      const d = authorizer.decide(peer, port, method, path);
      const what = `${peer || '(no identity)'} ${method ?? 'TCP'} ${path ?? ''} :${port}`;
      t.equal(d.allowed, allowed, `${what} is ${allowed ? 'allowed' : 'denied'}`);
      t.equal(d.policy, by, `${what} decided by ${by}`);
      t.equal(authorizer.decide(peer, port, method, path), d, 'the same decision object again (cached peer rules, shared decisions)');
    }
  });
  total += scenario.cases.length;
}

t.test('the table holds at least 50 cases', async (t) => {
  t.ok(total >= 50, `${total} cases`);
});

t.test('AUDIT lets the request through and names itself on the decision', async (t) => {
  const a = compileAuthorizer(set([policy('watch-admin', 'AUDIT', [{ from: { serviceAccounts: ['intruder'] }, to: { paths: ['/admin'] } }])]), pod);
  const d = a.decide(INTRUDER, 8080, 'GET', '/admin');
  t.equal(d.allowed, true);
  t.equal(d.audit, 'demo/watch-admin');
  t.match(d.reason, /AUDIT demo\/watch-admin rule 0 would deny/);
  t.equal(a.decide(INTRUDER, 8080, 'GET', '/admin'), d, 'shared');
  t.equal(a.decide(CLIENT, 8080, 'GET', '/admin').audit, undefined, 'another peer is not audited');
  const denied = compileAuthorizer(set([policy('watch', 'AUDIT', [{}])], { demo: { defaultInboundPolicy: 'deny' } }), pod).decide(CLIENT, 8080, 'GET', '/');
  t.equal(denied.allowed, false, 'AUDIT never allows what would be denied anyway');
  t.equal(denied.audit, 'demo/watch');
});

t.test('an ALLOW policy with no rules allows nothing', async (t) => {
  const a = compileAuthorizer(set([policy('nothing', 'ALLOW', [])]), pod);
  t.equal(a.decide(CLIENT, 8080, 'GET', '/').allowed, false);
  t.same(a.policies, ['demo/nothing']);
});

t.test('normalizePath: what a path rule compares against', async (t) => {
  const cases: [string, string][] = [
    ['/a/b', '/a/b'],
    ['/a/b?x=1#f', '/a/b'],
    ['/a//b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/../../b', '/b'],
    ['/a/b/..', '/a/'],
    ['/a/', '/a/'],
    ['/', '/'],
    ['/%61dmin', '/admin'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%2fb', '/a%2Fb'],
    ['/.well-known/x', '/.well-known/x'],
    ['http://hello:80/admin?x', '/admin'],
    ['http://hello', '/'],
  ];
  for (const [raw, want] of cases) t.equal(normalizePath(raw), want, raw);
});

t.test('the parser lists every problem at once with WEFT_ERR_AUTHZ_POLICY', async (t) => {
  try {
    parsePolicySection(
      {
        namespaces: { demo: { defaultInboundPolicy: 'sometimes' } },
        policies: [
          policy('a', 'MAYBE', [{ from: { principals: ['bob', 'spiffe://x/*/y'] }, to: { ports: [0], methods: ['G3T'], paths: ['admin', '/a*b'] }, when: {} }]),
          { metadata: { name: 'B', namespace: 'demo' }, spec: { rules: [] } },
          policy('c', 'ALLOW', [{ from: {} }]),
        ],
      },
      'mesh.json',
    );
    t.fail('should throw');
  } catch (err) {
    t.ok(isWeftError(err) && err.code === 'WEFT_ERR_AUTHZ_POLICY');
    const message = (err as Error).message;
    for (const want of ['defaultInboundPolicy', 'spec.action', '"bob"', 'spiffe://x/*/y', 'to.ports', '"G3T"', '"admin"', '"/a*b"', 'when: unknown field', 'metadata.name: "B"', 'from: lists nobody']) {
      t.ok(message.includes(want), `names ${want}`);
    }
  }
});

t.test('forNamespace keeps only the namespace asked for', async (t) => {
  const all = set([policy('a', 'ALLOW', [{}]), policy('b', 'DENY', [{}], { namespace: 'shop' })], { demo: { defaultInboundPolicy: 'deny' }, shop: { defaultInboundPolicy: 'all-authenticated' } });
  const mine = forNamespace(all, 'shop');
  t.same(mine.policies.map((p) => p.name), ['b']);
  t.same(mine.namespaceDefaults, { shop: 'all-authenticated' });
});
