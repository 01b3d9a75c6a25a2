// Reading TransformPolicy documents: what a valid one holds, and a malformed one rejected alone
// with the precise field and reason, while the other policies of the file attach.
import t from 'tap';
import { compilePolicies } from '../../../../gateway/policies/policy-set.js';
import { DEFAULT_TRANSFORM_MAX_BYTES } from '../../../../gateway/policies/transform.js';
import type { ObjectCondition } from '../../../../gateway/routes/conditions.js';
import { parseResources } from '../../../../gateway/routes/resources.js';

const doc = (name: string, spec: string): string => `---
apiVersion: weft.dev/v1alpha1
kind: TransformPolicy
metadata: { name: ${name}, namespace: d }
spec:
  targetRef: { kind: HTTPRoute, name: ${name} }
${spec}`;

function compile(text: string): { conditions: ObjectCondition[]; set: ReturnType<typeof compilePolicies> } {
  const parsed = parseResources(text, 't.yaml');
  const conditions: ObjectCondition[] = [];
  return { conditions, set: compilePolicies(parsed.resources.policies, () => '', conditions) };
}
const route = (name: string): { kind: 'HTTPRoute'; namespace: string; name: string; rule: number; label: string } => ({ kind: 'HTTPRoute', namespace: 'd', name, rule: 0, label: '' });

t.test('a valid TransformPolicy holds its query and body edits, with the default cap', async (t) => {
  const { conditions, set } = compile(
    doc(
      'ok',
      `  query:
    rename: [{ from: q, to: search }]
    remove: [debug]
    set: [{ name: v, value: "2" }]
    add: [{ name: tag, value: "" }]
  requestBody:
    edits:
      - { op: set, path: /meta/source, value: { via: edge, n: [1, 2] } }
      - { op: remove, path: /password }
      - { op: rename, from: /user_name, path: /userName }
  responseBody:
    maxBytes: 2048
    edits: [{ op: remove, path: /internal }]
`,
    ),
  );
  t.same(conditions, []);
  const p = set.effective(undefined, route('ok')).transform;
  t.equal(p?.name, 'TransformPolicy d/ok');
  t.same(p?.value.query, { rename: [['q', 'search']], remove: ['debug'], set: [['v', '2']], add: [['tag', '']] });
  t.equal(p?.value.requestBody?.maxBytes, DEFAULT_TRANSFORM_MAX_BYTES);
  t.same(
    p?.value.requestBody?.edits.map((e) => [e.op, e.path.text, e.op === 'set' ? e.value : e.op === 'rename' ? e.to.text : undefined]),
    [
      ['set', '/meta/source', { via: 'edge', n: [1, 2] }],
      ['remove', '/password', undefined],
      ['rename', '/user_name', '/userName'],
    ],
  );
  t.equal(p?.value.responseBody?.maxBytes, 2048);
});

t.test('a malformed TransformPolicy is rejected alone with the field and the reason', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['ptr', `  requestBody: { edits: [{ op: remove, path: "a/b" }] }\n`, /spec\.requestBody\.edits\[0\]\.path: "a\/b" is not a JSON Pointer: must be "" or start with "\/"/],
    ['tilde', `  responseBody: { edits: [{ op: set, path: "/a~2", value: 1 }] }\n`, /spec\.responseBody\.edits\[0\]\.path: "\/a~2" is not a JSON Pointer: .*"~" not followed by 0 or 1/],
    ['root', `  requestBody: { edits: [{ op: remove, path: "" }] }\n`, /spec\.requestBody\.edits\[0\]\.path: cannot remove the whole document/],
    ['into', `  requestBody: { edits: [{ op: rename, from: /a, path: /a/b }] }\n`, /spec\.requestBody\.edits\[0\]\.path: cannot move a value into itself/],
    ['noval', `  requestBody: { edits: [{ op: set, path: /a }] }\n`, /spec\.requestBody\.edits\[0\]\.value: is required/],
    ['op', `  requestBody: { edits: [{ op: copy, path: /a }] }\n`, /spec\.requestBody\.edits\[0\]\.op/],
    ['cap', `  requestBody: { maxBytes: 0, edits: [{ op: remove, path: /a }] }\n`, /spec\.requestBody\.maxBytes/],
    ['empty', `  requestBody: { edits: [] }\n`, /spec\.requestBody\.edits: must hold at least one edit/],
    ['both', `  query: { remove: [a], set: [{ name: a, value: x }] }\n`, /spec\.query\.remove: "a" is also set/],
    ['self', `  query: { rename: [{ from: a, to: a }] }\n`, /spec\.query\.rename\[0\]: renames "a" to itself/],
    ['noname', `  query: { set: [{ name: "", value: x }] }\n`, /spec\.query\.set\[0\]\.name: a parameter name must be 1 to 256 characters/],
    ['field', `  query: { delete: [a] }\n`, /spec\.query.*delete/],
    ['nothing', ``, /spec: needs at least one of query, requestBody, responseBody/],
  ];
  const good = doc('good', `  query: { remove: [debug] }\n`);
  const { conditions, set } = compile(good + cases.map(([name, spec]) => doc(name, spec)).join(''));
  t.ok(set.effective(undefined, route('good')).transform, 'the valid policy of the same file attaches');
  for (const [name, , reason] of cases) {
    const c = conditions.find((x) => x.name === name);
    t.equal(c?.type, 'Rejected', `${name} is rejected`);
    t.match(c?.reasons.join('\n'), reason, `${name}: ${String(c?.reasons)}`);
    t.equal(set.effective(undefined, route(name)).transform, undefined, `${name} is not attached`);
  }
});
