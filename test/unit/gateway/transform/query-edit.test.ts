// Query parameter edits over the raw query string: untouched parameters keep their bytes, repeated
// parameters and empty values behave as written, and the order is rename, remove, set, add.
import t from 'tap';
import { editQuery, type QueryEdits } from '../../../../gateway/transform/query-edit.js';

const none: QueryEdits = { rename: [], remove: [], set: [], add: [] };
const edits = (e: Partial<QueryEdits>): QueryEdits => ({ rename: e.rename ?? none.rename, remove: e.remove ?? none.remove, set: e.set ?? none.set, add: e.add ?? none.add });

t.test('parameters the edits do not touch keep their encoding, order and form', async (t) => {
  const search = '?q=a%20b+c&path=%2Fx%2Fy&flag&empty=&utf=%C3%A9&drop=1';
  t.equal(editQuery(search, edits({ remove: ['drop'] })), '?q=a%20b+c&path=%2Fx%2Fy&flag&empty=&utf=%C3%A9', 'percent escapes, "+", a bare name and "name=" are kept as sent');
  t.equal(editQuery(search, none), search.replace(/^\?/, '?'), 'no edit: the same string');
});

t.test('names are compared decoded, so an encoded name is found', async (t) => {
  t.equal(editQuery('?my%20key=1&other=2', edits({ remove: ['my key'] })), '?other=2');
  t.equal(editQuery('?a+b=1', edits({ rename: [['a b', 'ab']] })), '?ab=1');
  t.equal(editQuery('?bad%zz=1&x=2', edits({ remove: ['bad%zz'] })), '?x=2', 'a malformed escape is compared as written');
});

t.test('remove drops every parameter of the name', async (t) => {
  t.equal(editQuery('?a=1&b=2&a=3', edits({ remove: ['a'] })), '?b=2');
  t.equal(editQuery('?a=1', edits({ remove: ['a'] })), '', 'nothing left: no "?" either');
  t.equal(editQuery('', edits({ remove: ['a'] })), '');
});

t.test('rename keeps each value as sent, for every occurrence, and a bare name stays bare', async (t) => {
  t.equal(editQuery('?old=x%2By&k=1&old=&old', edits({ rename: [['old', 'new name']] })), '?new%20name=x%2By&k=1&new%20name=&new%20name');
});

t.test('set replaces all parameters of the name with one at the first one\'s place, or appends', async (t) => {
  t.equal(editQuery('?a=1&b=2&a=3&c=4', edits({ set: [['a', 'x y']] })), '?a=x%20y&b=2&c=4');
  t.equal(editQuery('?b=2', edits({ set: [['a', '']] })), '?b=2&a=', 'an empty value is written as "a="');
  t.equal(editQuery('', edits({ set: [['a', 'é/&=']] })), '?a=%C3%A9%2F%26%3D', 'new values are percent-encoded');
});

t.test('add appends even when the name is there', async (t) => {
  t.equal(editQuery('?tag=a', edits({ add: [['tag', 'b'], ['tag', 'c']] })), '?tag=a&tag=b&tag=c');
});

t.test('edits run in the order rename, remove, set, add', async (t) => {
  // The renamed parameter is then removable under its new name, and set wins over what add appends after it.
  const e = edits({ rename: [['a', 'b']], remove: ['b'], set: [['c', '1']], add: [['c', '2']] });
  t.equal(editQuery('?a=1&c=0&d', e), '?c=1&d&c=2');
});

t.test('empty pieces are dropped only when the string is rewritten', async (t) => {
  t.equal(editQuery('?a=1&&b=2&', edits({ add: [['z', '9']] })), '?a=1&b=2&z=9');
});
