import t from 'tap';
import { labelsMatch, parseFieldSelector, parseLabelSelector, type LabelSelector } from '../../support/kube-selectors.js';

const sel = (text: string): LabelSelector => {
  const s = parseLabelSelector(text);
  if (typeof s === 'string') throw new Error(s);
  return s;
};

t.test('equality, inequality, set-based and existence requirements', async (t) => {
  const labels = { 'kubernetes.io/service-name': 'orders', tier: 'web' };
  t.ok(labelsMatch(sel('kubernetes.io/service-name=orders'), labels));
  t.ok(labelsMatch(sel('kubernetes.io/service-name==orders,tier'), labels));
  t.notOk(labelsMatch(sel('tier!=web'), labels));
  t.ok(labelsMatch(sel('tier in (web, api)'), labels));
  t.notOk(labelsMatch(sel('tier notin (web)'), labels));
  t.ok(labelsMatch(sel('!missing'), labels));
  t.notOk(labelsMatch(sel('missing'), labels));
  t.ok(labelsMatch(sel(''), labels), 'empty selects everything');
  t.ok(labelsMatch(sel('x notin (a)'), undefined));
});

t.test('rejects malformed selectors with a message', async (t) => {
  t.type(parseLabelSelector('a=b=c'), 'string');
  t.type(parseLabelSelector('a in x'), 'string');
  t.type(parseLabelSelector('a=b,'), 'string');
  t.type(parseFieldSelector('metadata.name'), 'string');
  t.same(parseFieldSelector('metadata.name=x,status.phase!=Running'), [
    { field: 'metadata.name', value: 'x', negate: false },
    { field: 'status.phase', value: 'Running', negate: true },
  ]);
});
