// JSON Pointer (RFC 6901) parsing and the set / remove / rename edits: escapes, array indices and
// "-", paths that do not exist, and members named like Object.prototype's.
import t from 'tap';
import { applyJsonEdits, isJsonMediaType, isPlainEncoding, parsePointer, type JsonEdit, type Pointer } from '../../../../gateway/transform/json-edit.js';

const ptr = (s: string): Pointer => {
  const p = parsePointer(s);
  if (typeof p === 'string') throw new Error(p);
  return p;
};
const set = (path: string, value: unknown): JsonEdit => ({ op: 'set', path: ptr(path), value });
const remove = (path: string): JsonEdit => ({ op: 'remove', path: ptr(path) });
const rename = (from: string, to: string): JsonEdit => ({ op: 'rename', path: ptr(from), to: ptr(to) });
const run = (doc: unknown, ...edits: JsonEdit[]): ReturnType<typeof applyJsonEdits> => applyJsonEdits(JSON.parse(JSON.stringify(doc)), edits);

t.test('pointers unescape ~1 to "/" and ~0 to "~", in that order', async (t) => {
  t.same(ptr('').tokens, []);
  t.same(ptr('/').tokens, ['']);
  t.same(ptr('/a~1b/m~0n/~01').tokens, ['a/b', 'm~n', '~1'], '"~01" is "~1", not "/"');
  t.match(parsePointer('a/b'), /start with "\/"/);
  t.match(parsePointer('/a~2'), /"~" not followed by 0 or 1/);
  t.match(parsePointer('/a~'), /"~" not followed by 0 or 1/);
});

t.test('escaped pointers reach members whose names hold "/" and "~"', async (t) => {
  const doc = { 'a/b': 1, 'm~n': 2, '': 3 };
  t.same(run(doc, set('/a~1b', 10), remove('/m~0n'), set('/', 30)).value, { 'a/b': 10, '': 30 });
});

t.test('set creates or replaces a member, replaces an array element, and "-" appends', async (t) => {
  const doc = { user: { name: 'a' }, list: [1, 2, 3] };
  const out = run(doc, set('/user/name', 'b'), set('/user/roles', ['x']), set('/list/0', { n: 0 }), set('/list/-', 4), set('/list/4', 5));
  t.same(out.value, { user: { name: 'b', roles: ['x'] }, list: [{ n: 0 }, 2, 3, 4, 5] }, 'index == length appends too');
  t.same(out.skipped, []);
});

t.test('set on the root replaces the document', async (t) => {
  t.same(run({ a: 1 }, set('', [true])).value, [true]);
});

t.test('remove deletes a member or splices an array element', async (t) => {
  t.same(run({ a: 1, b: [1, 2, 3] }, remove('/a'), remove('/b/1')).value, { b: [1, 3] });
});

t.test('rename moves a value, between objects and arrays too', async (t) => {
  const doc = { old: { deep: 1 }, list: ['x', 'y'], into: {} };
  const out = run(doc, rename('/old', '/new'), rename('/list/0', '/into/first'), rename('/new/deep', '/list/-'));
  t.same(out.value, { list: ['y', 1], into: { first: 'x' }, new: {} });
});

t.test('edits of paths that do not exist do nothing and are listed', async (t) => {
  const doc = { a: { b: 1 }, list: [1], s: 'text' };
  const out = run(doc, remove('/nope'), set('/missing/x', 1), set('/list/5', 1), set('/list/01', 1), remove('/list/-'), set('/s/x', 1), rename('/gone', '/here'));
  t.same(out.value, doc, 'the document is unchanged');
  t.same(out.skipped, ['remove /nope', 'set /missing/x', 'set /list/5', 'set /list/01', 'remove /list/-', 'set /s/x', 'rename /gone']);
});

t.test('a rename whose target cannot be placed leaves the value where it was', async (t) => {
  const out = run({ list: [1, 2, 3], keep: 'v' }, rename('/list/1', '/nowhere/x'), rename('/keep', '/list/9'));
  t.same(out.value, { list: [1, 2, 3], keep: 'v' }, 'an array element is re-inserted at its index');
  t.equal(out.skipped.length, 2);
});

t.test('members named __proto__ and constructor are ordinary members', async (t) => {
  const doc = JSON.parse('{"__proto__": {"x": 1}, "a": {}}') as Record<string, unknown>;
  const out = applyJsonEdits(doc, [set('/__proto__/polluted', true), set('/a/__proto__', { y: 2 }), set('/constructor', 'c')]);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched');
  t.equal(JSON.stringify(out.value), '{"__proto__":{"x":1,"polluted":true},"a":{"__proto__":{"y":2}},"constructor":"c"}');
  t.same(run({ a: 1 }, remove('/toString')).skipped, ['remove /toString'], 'an inherited name is not a member');
});

t.test('a configured value is copied, so one body\'s edits never reach the next', async (t) => {
  const e = [set('/tags', ['a'])];
  const first = applyJsonEdits({}, e).value as { tags: string[] };
  first.tags.push('changed');
  t.same(applyJsonEdits({}, e).value, { tags: ['a'] });
});

t.test('JSON media types and plain encodings', async (t) => {
  for (const ct of ['application/json', 'Application/JSON; charset=utf-8', 'application/problem+json', 'application/vnd.api+json;v=1']) t.ok(isJsonMediaType(ct), ct);
  for (const ct of [undefined, '', 'text/plain', 'application/jsonp', 'application/json-seq', 'text/json+xml']) t.notOk(isJsonMediaType(ct), String(ct));
  t.ok(isPlainEncoding(undefined));
  t.ok(isPlainEncoding('identity'));
  t.notOk(isPlainEncoding('gzip'));
  t.notOk(isPlainEncoding('br'));
});
