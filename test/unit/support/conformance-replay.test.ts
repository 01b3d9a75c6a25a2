// The conformance replay's judges on their own: compareRoundTrip (the port of upstream's
// CompareRoundTrip), parseLocation, readDeclared and checkStatus pass what upstream passes and
// fail what it fails, with its messages.
import t from 'tap';
import { compareRoundTrip, parseLocation, readDeclared, wireRequest, type ConformanceCase, type RoundTrip } from '../../support/conformance-replay.js';
import { checkStatus, type ObjectStatusJson } from '../../support/conformance-status.js';

const echo = (over: Partial<NonNullable<RoundTrip['captured']>> = {}): NonNullable<RoundTrip['captured']> => ({
  path: '/v2',
  host: 'gw',
  method: 'GET',
  proto: 'HTTP/1.1',
  headers: {},
  namespace: 'gateway-conformance-infra',
  pod: 'infra-backend-v2-abc',
  ...over,
});
const rt = (status: number, captured?: RoundTrip['captured'], headers: [string, string[]][] = [], location?: string): RoundTrip => ({
  status,
  protocol: 'HTTP/1.1',
  headers: new Map(headers),
  captured,
  location: location === undefined ? undefined : parseLocation(location, 'gw'),
});
const judge = (c: Omit<ConformanceCase, 'line'>, r: RoundTrip): string | undefined => compareRoundTrip({ ...c, line: 1 }, wireRequest({ ...c, line: 1 }), r);

t.test('compareRoundTrip judges status, backend, path, headers and redirects as upstream does', async (t) => {
  const v2 = { Request: { Path: '/v2' }, Backend: 'infra-backend-v2', Namespace: 'gateway-conformance-infra' };
  t.equal(judge(v2, rt(200, echo())), undefined);
  t.equal(judge(v2, rt(200, echo({ pod: 'infra-backend-v1-x' }))), 'expected pod name to start with infra-backend-v2, got infra-backend-v1-x');
  t.equal(judge(v2, rt(404)), 'expected status code to be one of [200], got 404');
  t.equal(judge(v2, rt(200, echo({ path: '/v2/' }))), 'expected path to be /v2, got /v2/');
  t.equal(judge(v2, rt(200, echo({ namespace: 'other' }))), 'expected namespace to be gateway-conformance-infra, got other');
  const hdr = { ...v2, ExpectedRequest: { Request: { Path: '/v2', Headers: { 'X-Add': 'a,b' } }, AbsentHeaders: ['X-Gone'] } };
  t.equal(judge(hdr, rt(200, echo({ headers: { 'X-Add': ['a', 'b'] } }))), undefined, 'multiple values join with a comma');
  t.equal(judge(hdr, rt(200, echo({ headers: { 'X-Add': ['a,b'], 'X-Gone': ['1'] } }))), 'expected X-Gone header to not be set, got 1');
  t.equal(judge({ Request: { Path: '/t?delay=1s' }, Response: { StatusCode: 504 } }, rt(408)), undefined, 'any timeout status satisfies an expected timeout');
  const resp = { ...v2, Response: { Headers: { 'X-Set': 'v' }, AbsentHeaders: ['X-Drop'] } };
  t.equal(judge(resp, rt(200, echo(), [['x-set', ['v']]])), undefined);
  t.equal(judge(resp, rt(200, echo(), [['x-set', ['v']], ['x-drop', ['1']]])), 'expected X-Drop header to not be set, got 1');
  const redirect = { Request: { Path: '/r', UnfollowRedirect: true }, Response: { StatusCode: 302 }, RedirectRequest: { Scheme: 'https', Host: 'example.org', Port: '8443' } };
  t.equal(judge(redirect, rt(302, undefined, [], 'https://example.org:8443/r')), undefined);
  t.equal(judge(redirect, rt(302, undefined, [], 'https://example.org/r')), 'expected redirected port to be "8443", got ""');
  const noPort = { ...redirect, RedirectRequest: { Scheme: 'http', Host: 'example.org' } };
  t.equal(judge(noPort, rt(302, undefined, [], 'http://example.org:80/r')), undefined, 'an explicit :80 is kept, as Go keeps it, and allowed');
  t.equal(judge(noPort, rt(302, undefined, [], 'http://example.org:8080/r')), 'for http scheme, expected redirected port to be 80 or not set, got "8080"');
  t.equal(judge({ Request: { Path: '/cors', Method: 'OPTIONS' }, ExpectedRequest: { Request: { Method: 'OPTIONS', Path: '' } }, Response: { StatusCodes: [200, 204] } }, rt(204)), undefined, 'a preflight the gateway answers itself (no echo body)');
});

t.test('readDeclared reads the four lists of the Conformance section', async (t) => {
  const doc = '# x\n## Conformance\n### Supported features\n- `Gateway`\n- `HTTPRoute`\n### Unsupported features\n| `TLSRoute` | not served |\n### Not replayed\n| `HTTPRouteServiceTypes` | loop |\n### Known failures\n| `HTTPRouteDisallowedKind` | refused whole |\n## Not yet\n- `Other`\n';
  const d = readDeclared(doc);
  t.same([...d.supported], ['Gateway', 'HTTPRoute']);
  t.same([...d.unsupported], [['TLSRoute', 'not served']]);
  t.same([...d.notReplayed.keys()], ['HTTPRouteServiceTypes']);
  t.same([...d.knownFailures.keys()], ['HTTPRouteDisallowedKind']);
});

t.test('checkStatus judges route conditions, attached routes and observed generations', async (t) => {
  const gw = { Name: 'same-namespace', Namespace: 'ns' };
  const route = { Name: 'r', Namespace: 'ns' };
  const all: ObjectStatusJson[] = [
    { kind: 'Gateway', namespace: 'ns', name: 'same-namespace', generation: 3, status: { conditions: [{ type: 'Programmed', status: 'True', reason: 'Programmed' }], listeners: [{ name: 'http', attachedRoutes: 0, conditions: [] }] } },
    {
      kind: 'HTTPRoute',
      namespace: 'ns',
      name: 'r',
      generation: 3,
      status: { parents: [{ parentRef: { name: 'same-namespace' }, conditions: [{ type: 'Accepted', status: 'False', reason: 'NoMatchingParent', observedGeneration: 3 }, { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', observedGeneration: 3 }] }] },
    },
  ];
  t.equal(checkStatus({ check: 'HTTPRouteMustHaveCondition', line: 1, route, gateway: gw, condition: { Type: 'Accepted', Status: 'False', Reason: 'NoMatchingParent' } }, all), undefined);
  t.equal(
    checkStatus({ check: 'HTTPRouteMustHaveCondition', line: 1, route, gateway: gw, condition: { Type: 'Accepted', Status: 'False', Reason: 'NotAllowedByListeners' } }, all),
    'expected Accepted=False(NotAllowedByListeners), got Accepted=False(NoMatchingParent) ResolvedRefs=True(ResolvedRefs)',
  );
  t.equal(checkStatus({ check: 'HTTPRouteMustHaveNoAcceptedParents', line: 1, route }, all), undefined);
  t.equal(checkStatus({ check: 'GatewayMustHaveZeroRoutes', line: 1, gateway: gw }, all), undefined);
  t.equal(checkStatus({ check: 'GatewayAndHTTPRoutesMustBeAccepted', line: 1, gatewayRef: gw, routes: [route] }, all), 'HTTPRoute ns/r not Accepted by ns/same-namespace: Accepted=False(NoMatchingParent) ResolvedRefs=True(ResolvedRefs)');
  t.equal(checkStatus({ check: 'HTTPRouteMustHaveLatestConditions', line: 1, route }, all), undefined);
  t.match(checkStatus({ check: 'HTTPRouteMustHaveResolvedRefsConditionsTrue', line: 1, route, gateway: gw }, all, 4), /observedGeneration is not 4/);
  t.equal(checkStatus({ check: 'SomethingElse', line: 1 }, all), 'status check SomethingElse is not replayed by this harness');
});
