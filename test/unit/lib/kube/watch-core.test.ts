import t from 'tap';
import { applyWatchChange, interpretWatchEvent, objectKey, type KubeObjectMeta } from '../../../../lib/kube/watch.js';

const obj = (name: string, rv: string, extra: Record<string, unknown> = {}): KubeObjectMeta & Record<string, unknown> => ({
  metadata: { name, namespace: 'shop', resourceVersion: rv },
  ...extra,
});

// The backoff itself is tested in test/unit/lib/backoff.test.ts (one backoff for all of weft).

t.test('applying changes returns a new map and leaves the old one alone', async (t) => {
  const empty = new Map<string, KubeObjectMeta>();
  const one = applyWatchChange(empty, { kind: 'upsert', object: obj('a', '1') });
  t.equal(empty.size, 0);
  t.equal(one.get('shop/a')?.metadata?.resourceVersion, '1');
  const two = applyWatchChange(one, { kind: 'upsert', object: obj('a', '2') });
  t.equal(two.get('shop/a')?.metadata?.resourceVersion, '2');
  t.equal(one.get('shop/a')?.metadata?.resourceVersion, '1');
  const gone = applyWatchChange(two, { kind: 'delete', object: obj('a', '3') });
  t.equal(gone.size, 0);
  const replaced = applyWatchChange(two, { kind: 'replace', objects: [obj('b', '4'), obj('c', '4')] });
  t.same([...replaced.keys()], ['shop/b', 'shop/c'], 'replace drops what the list no longer has');
  t.equal(objectKey({ metadata: { name: 'x' } }), '/x');
});

t.test('watch events map to steps: emit, bookmark, re-list on 410, error otherwise', async (t) => {
  t.match(interpretWatchEvent({ type: 'ADDED', object: obj('a', '5') }), { action: 'emit', change: { kind: 'upsert' }, resourceVersion: '5' });
  t.match(interpretWatchEvent({ type: 'MODIFIED', object: obj('a', '6') }), { action: 'emit', change: { kind: 'upsert' } });
  t.match(interpretWatchEvent({ type: 'DELETED', object: obj('a', '7') }), { action: 'emit', change: { kind: 'delete' }, resourceVersion: '7' });
  t.same(interpretWatchEvent({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '9' } } }), { action: 'bookmark', resourceVersion: '9' });
  const expired = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (5)', reason: 'Expired', code: 410 };
  t.same(interpretWatchEvent({ type: 'ERROR', object: expired }), { action: 'relist', message: 'too old resource version: 1 (5)' });
  t.match(interpretWatchEvent({ type: 'ERROR', object: { code: 500, reason: 'InternalError', message: 'boom' } }), { action: 'error', message: /500 InternalError boom/ });
  t.match(interpretWatchEvent({ type: 'WEIRD', object: {} }), { action: 'error' });
});
