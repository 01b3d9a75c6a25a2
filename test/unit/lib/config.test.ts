import t from 'tap';
import {
  ConfigReader, bool, describeUnknownSetting, durationMs, editDistance, hostPort, list, nearestName, oneOf, optional, parseHostPort, port,
  renderSettingsTable, setting, str, unknownSettings,
} from '../../../lib/config.js';

t.test('reads typed values with fallbacks', async (t) => {
  const c = new ConfigReader({ A: '5', B: 'true', C: 'x,y, ,z', D: '127.0.0.2:81', E: 'info' });
  t.equal(c.integer('A', 1), 5);
  t.equal(c.integer('MISSING', 7), 7);
  t.equal(c.boolean('B', false), true);
  t.same(c.list('C'), ['x', 'y', 'z']);
  t.same(c.hostPort('D', { host: '0.0.0.0', port: 1 }), { host: '127.0.0.2', port: 81 });
  t.equal(c.oneOf('E', ['info', 'debug'] as const, 'debug'), 'info');
  t.doesNotThrow(() => c.done());
});

t.test('lists every problem at once', async (t) => {
  const c = new ConfigReader({ A: 'five', B: 'maybe', D: 'host:port', E: 'loud', F: '99999' });
  c.integer('A', 1);
  c.boolean('B', false);
  c.hostPort('D', { host: 'h', port: 1 });
  c.oneOf('E', ['info', 'debug'] as const, 'info');
  c.integer('F', 1, { max: 65535 });
  c.required('G');
  const err = (() => {
    try {
      c.done();
    } catch (e) {
      return e as Error & { code: string };
    }
    return undefined;
  })();
  t.equal(err?.code, 'WEFT_ERR_CONFIG');
  for (const name of ['A=', 'B=', 'D=', 'E=', 'F=', 'G is required']) t.match(err?.message, name);
});

t.test('parses host:port forms', async (t) => {
  t.same(parseHostPort('8080', '127.0.0.1'), { host: '127.0.0.1', port: 8080 });
  t.same(parseHostPort('[::1]:7001', 'x'), { host: '::1', port: 7001 });
  t.match(parseHostPort(':80', 'x'), /host is empty/);
  t.match(parseHostPort('a:70000', 'x'), /out of range/);
});

// A table as a component declares one: every type, a mode-only row, a required row.
const TABLE = {
  mode: setting({ name: 'X_MODE', type: oneOf(['local', 'kubernetes'] as const), default: 'kubernetes', doc: 'mode' }),
  port: setting({ name: 'X_PORT', type: port(), default: 7001, doc: 'a port' }),
  waitMs: setting({ name: 'X_WAIT_MS', type: durationMs({ min: 1, max: 60_000 }), default: 500, doc: 'a wait' }),
  on: setting({ name: 'X_ON', type: bool(), default: true, doc: 'a switch' }),
  addr: setting({ name: 'X_ADDR', type: hostPort('0.0.0.0'), default: { host: '0.0.0.0', port: 7020 }, doc: 'an address' }),
  names: setting({ name: 'X_NAMES', type: list(), default: [], doc: 'names' }),
  note: setting({ name: 'X_NOTE', type: optional(str()), default: undefined, doc: 'a note' }),
  dir: setting({ name: 'X_DIR', type: str('path'), default: '', required: 'local', mode: 'local', doc: 'local only' }),
  id: setting({ name: 'X_ID', type: str(), default: '', required: true, doc: 'always required' }),
} as const;

t.test('a table parses a plain object into typed values, with defaults for what is unset or blank', async (t) => {
  const c = new ConfigReader({ X_PORT: '9000', X_WAIT_MS: ' 250 ', X_ON: '0', X_ADDR: '8080', X_NAMES: 'a, b,,c', X_ID: 'me', X_DIR: '/ignored', X_NOTE: '  ' });
  const v = c.table(TABLE);
  t.same(v, { mode: 'kubernetes', port: 9000, waitMs: 250, on: false, addr: { host: '0.0.0.0', port: 8080 }, names: ['a', 'b', 'c'], note: undefined, dir: '', id: 'me' });
  t.equal(v.dir, '', 'a row of another mode is not read: its default stands');
  t.doesNotThrow(() => c.done());
  t.equal(new ConfigReader({ X_MODE: 'local', X_DIR: '/d', X_ID: 'x' }).table(TABLE, { mode: 'local' }).dir, '/d', 'read in its own mode');
});

t.test('a table lists every problem at once: types, ranges, enums, required (also per mode)', async (t) => {
  const c = new ConfigReader({ X_MODE: 'remote', X_PORT: '70000', X_WAIT_MS: '0', X_ON: 'yes', X_ADDR: 'h:p' });
  const v = c.table(TABLE, { mode: 'local' });
  t.equal(v.port, 7001, 'a bad value falls back to the default while the problem is recorded');
  const err = (() => {
    try {
      c.done();
    } catch (e) {
      return e as Error & { code: string };
    }
    return undefined;
  })();
  t.equal(err?.code, 'WEFT_ERR_CONFIG');
  for (const problem of [
    'X_MODE="remote" must be one of local, kubernetes',
    'X_PORT=70000 is above the maximum 65535',
    'X_WAIT_MS=0 is below the minimum 1',
    'X_ON="yes" is not true or false',
    'X_ADDR="h:p": port "p" is not a number',
    'X_DIR is required',
    'X_ID is required',
  ]) t.match(err?.message, problem, problem);
  t.equal(err?.message.split('\n  - ').length, 8, 'seven problems, each on its own line');
});

t.test('the docs table shows type, range, default, required-ness and mode', async (t) => {
  const md = renderSettingsTable(TABLE);
  t.match(md, '| `X_PORT` | port 1-65535 | `7001` | no | a port |');
  t.match(md, '| `X_WAIT_MS` | duration ms 1-60000 | `500` | no | a wait |');
  t.match(md, '| `X_NOTE` | string | (none) | no | a note |');
  t.match(md, '| `X_DIR` (local mode) | path | (none) | in local mode | local only |');
  t.match(md, '| `X_ID` | string | - | yes | always required |');
  t.match(md, '| `X_MODE` | enum: local, kubernetes | `kubernetes` |');
});

t.test('an unknown WEFT_* name is reported with the nearest known name; known and foreign names are not', async (t) => {
  const known = new Set(['WEFT_LOG_LEVEL', 'WEFT_ADMIN_ADDR', 'WEFT_GATEWAY_HTTP_ADDR', 'WEFT_INJECTOR_IMAGE']);
  const found = unknownSettings(
    { WEFT_LOG_LEVLE: 'debug', WEFT_ADMIN_ADDR: ':1', WEFT_GATEWAY_HTTP_ADR: 'x', WEFT_INJECTOR_IMAGE: 'i', WEFT_SOMETHING_ELSE_ENTIRELY: '1', PATH: '/bin', LOG_LEVEL: 'x' },
    known,
  );
  t.same(found, [
    { name: 'WEFT_GATEWAY_HTTP_ADR', suggestion: 'WEFT_GATEWAY_HTTP_ADDR' },
    { name: 'WEFT_LOG_LEVLE', suggestion: 'WEFT_LOG_LEVEL' },
    { name: 'WEFT_SOMETHING_ELSE_ENTIRELY', suggestion: undefined },
  ]);
  t.equal(describeUnknownSetting({ name: 'WEFT_LOG_LEVLE', suggestion: 'WEFT_LOG_LEVEL' }), 'WEFT_LOG_LEVLE is not a weft setting and is ignored; did you mean WEFT_LOG_LEVEL?');
  t.equal(describeUnknownSetting({ name: 'WEFT_X', suggestion: undefined }), 'WEFT_X is not a weft setting and is ignored');
});

t.test('against the real tables: a misspelt variable gets its suggestion, another component\'s variable no warning', async (t) => {
  const { unknownVariableWarnings } = await import('../../../cli/settings.js');
  t.same(unknownVariableWarnings({ WEFT_LOG_LEVLE: 'debug', WEFT_GATEWAY_ROUTES_FILE: '/r', WEFT_INJECTOR_IMAGE: 'i', WEFT_SKIP_INBOUND_PORTS: '22', WEFT_TRUST_ANCHOR: 'x' }), [
    'WEFT_LOG_LEVLE is not a weft setting and is ignored; did you mean WEFT_LOG_LEVEL?',
    'WEFT_TRUST_ANCHOR is not a weft setting and is ignored; did you mean WEFT_TRUST_ANCHORS?',
  ]);
  t.match(unknownVariableWarnings({ WEFT_POD_IP: '10.0.0.1' })[0], /^WEFT_POD_IP is not a weft setting/, 'the removed WEFT_POD_IP is warned about');
});

t.test('edit distance counts a swap of neighbours as one edit', async (t) => {
  t.equal(editDistance('LEVEL', 'LEVLE'), 1);
  t.equal(editDistance('ADDR', 'ADR'), 1);
  t.equal(editDistance('abc', 'abc'), 0);
  t.equal(editDistance('', 'abc'), 3);
  t.equal(nearestName('WEFT_QQQQQQQQ', ['WEFT_LOG_LEVEL']), undefined, 'nothing close: no suggestion');
});
