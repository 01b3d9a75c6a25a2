// One reader for route objects: the API server's plain objects read exactly as the same objects
// written as YAML documents (the kube source no longer goes through text), and a YAML syntax
// error costs only its own document.
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseResources, readResources } from '../../../gateway/routes/resources.js';
import { compileRouteTable } from '../../../gateway/routes/route-table.js';

const TEXT = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: d, creationTimestamp: "2024-01-01T00:00:00Z" }
spec: { gatewayClassName: weft, listeners: [{ name: http, port: 80, protocol: HTTP, hostname: "*.test" }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: d }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-A, value: "1" }] } }]
      backendRefs: [{ name: api, port: 8080, weight: 3 }, { name: api2, port: 8080 }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ing, namespace: d }
spec: { ingressClassName: weft, rules: [{ host: a.test, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: s, port: { number: 80 } } } }] } }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bad, namespace: d }
spec: { parentRefs: [{ name: edge }], rules: [{ backendRefs: [{ name: s }] }], colour: red }
`;

t.test('plain objects read exactly as the same objects written as YAML', async (t) => {
  const objects = parseAllDocuments(TEXT).map((d) => JSON.parse(JSON.stringify(d.toJS())) as unknown);
  const fromText = parseResources(TEXT, 'src');
  const fromObjects = readResources(objects, 'src');
  t.same(fromObjects.problems, fromText.problems, 'the same problems, with the same document numbers');
  t.ok(fromText.problems.some((p) => p.startsWith('src: document 4 (HTTPRoute d/bad): spec.colour: unknown field')), 'problems name source, document and field');
  t.same(fromObjects.resources.gateways, fromText.resources.gateways);
  t.same(fromObjects.resources.routes, fromText.resources.routes);
  t.same(fromObjects.resources.ingresses, fromText.resources.ingresses);
  const lookup = (r: typeof fromText): string | undefined => {
    const d = compileRouteTable(r.resources).table.lookup('HTTP', { host: 'x.test', path: '/api/v1', method: 'GET', headers: {}, query: new URLSearchParams() });
    return d.kind === 'matched' ? d.rule.route.label : undefined;
  };
  t.equal(lookup(fromObjects), 'd/web/0');
  t.equal(lookup(fromObjects), lookup(fromText));
});

t.test('a YAML syntax error is reported for its document; the others keep their numbers', async (t) => {
  const text = `apiVersion: v1
kind: Namespace
metadata: { name: a }
---
kind: [unclosed
---
apiVersion: v1
kind: Namespace
metadata: { name: "Not_A_Name" }
`;
  const { problems, resources } = parseResources(text, 'f.yaml');
  t.equal(resources.namespaces[0]?.name, 'a');
  t.ok(problems.some((p) => p.startsWith('f.yaml: document 2 (document): (yaml): ')), 'the broken document is named');
  t.ok(problems.some((p) => p.startsWith('f.yaml: document 3 (Namespace default/Not_A_Name): metadata.name')), 'the next one keeps its number');
});
