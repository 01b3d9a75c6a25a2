import t from 'tap';
import { checkTracestate, formatTraceparent, parseTraceparent } from '../../../../mesh/trace/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

t.test('parses a version 00 traceparent with its sampled flag', async (t) => {
  t.same(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, sampled: true });
  t.same(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, sampled: false });
  t.same(parseTraceparent(`00-${TRACE}-${SPAN}-03`), { traceId: TRACE, spanId: SPAN, sampled: true }, 'unknown flag bits are ignored');
  t.same(parseTraceparent(` 00-${TRACE}-${SPAN}-01 `), { traceId: TRACE, spanId: SPAN, sampled: true }, 'surrounding whitespace is trimmed');
});

t.test('a later version is read by its first four fields, extra fields allowed', async (t) => {
  t.same(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`), { traceId: TRACE, spanId: SPAN, sampled: true });
  t.same(parseTraceparent(`01-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, sampled: false });
});

t.test('refuses every malformed traceparent', async (t) => {
  const bad: Record<string, string | string[] | undefined> = {
    absent: undefined,
    empty: '',
    'version ff': `ff-${TRACE}-${SPAN}-01`,
    'version 00 with trailing data': `00-${TRACE}-${SPAN}-01-extra`,
    'upper case': `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    'all-zero trace id': `00-${'0'.repeat(32)}-${SPAN}-01`,
    'all-zero span id': `00-${TRACE}-${'0'.repeat(16)}-01`,
    'short trace id': `00-${TRACE.slice(1)}-${SPAN}-01`,
    'long span id': `00-${TRACE}-${SPAN}0-01`,
    'non-hex': `00-${TRACE.slice(0, 31)}g-${SPAN}-01`,
    'one-digit flags': `00-${TRACE}-${SPAN}-1`,
    'two joined values': `00-${TRACE}-${SPAN}-01, 00-${TRACE}-${SPAN}-01`,
    'an h2 array of two': [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`],
    garbage: 'not a traceparent',
  };
  for (const [why, value] of Object.entries(bad)) t.equal(parseTraceparent(value), undefined, why);
});

t.test('formats version 00 with the sampled flag', async (t) => {
  t.equal(formatTraceparent(TRACE, SPAN, true), `00-${TRACE}-${SPAN}-01`);
  t.equal(formatTraceparent(TRACE, SPAN, false), `00-${TRACE}-${SPAN}-00`);
  t.same(parseTraceparent(formatTraceparent(TRACE, SPAN, true)), { traceId: TRACE, spanId: SPAN, sampled: true }, 'round trip');
});

t.test('keeps a well-formed tracestate as received', async (t) => {
  t.equal(checkTracestate('congo=t61rcWkgMzE'), 'congo=t61rcWkgMzE');
  t.equal(checkTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  t.equal(checkTracestate('a=1 , ,b=2'), 'a=1 , ,b=2', 'optional whitespace and empty members');
  t.equal(checkTracestate('tenant@vendor=x'), 'tenant@vendor=x', 'multi-tenant key');
  t.equal(checkTracestate(['a=1', 'b=2']), 'a=1,b=2', 'repeated headers are one list');
});

t.test('drops a malformed tracestate whole', async (t) => {
  const bad: Record<string, string | undefined> = {
    absent: undefined,
    empty: '',
    'no equals': 'congo',
    'upper-case key': 'Congo=1',
    'key starting with a digit': '1abc=1',
    'value with =': 'a=b=c',
    'key longer than 256 characters': `a${'b'.repeat(256)}=1`,
    'empty value': 'a=',
    'duplicate key': 'a=1,a=2',
    'more than 32 members': Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','),
    'longer than 512 characters': `a=${'x'.repeat(255)},b=${'y'.repeat(255)}`,
    'non-ASCII value': 'a=é',
  };
  for (const [why, value] of Object.entries(bad)) t.equal(checkTracestate(value), undefined, why);
});
