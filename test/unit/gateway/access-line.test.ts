// The gateway's hand-serialised access-log line against the pino line the handler wrote before:
// byte for byte with hostile strings in every field a client or a configuration chooses, valid
// JSON in every case, absent fields left out as pino leaves them, through createLogger's destination.
import t from 'tap';
import { pino } from 'pino';
import { ACCESS_MSG, GatewayAccessLine, GATEWAY_ACCESS_KEYS, type GatewayAccessFacts } from '../../../gateway/access-line.js';
import { RawLogLine } from '../../../lib/raw-log-line.js';
import { createLogger, REDACTED_PATHS } from '../../../lib/logger.js';
import type { ErrorCode } from '../../../lib/errors.js';

type Obj = Record<string, unknown>;

// A logger made as createLogger makes one, with a fixed time so two lines can be compared as bytes.
function fixedLogger(sink: string[], level = 'info'): pino.Logger {
  return pino(
    { name: 'weft-gateway', level, base: { pid: 42, pod: 'gw-"0"' }, redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' }, timestamp: () => ',"time":"2026-01-01T00:00:00.000Z"' },
    { write: (line: string) => sink.push(line) },
  );
}

// The object gateway/handler.ts logged through pino before the hand-written line.
function pinoObject(method: string | undefined, x: GatewayAccessFacts, status: number, durationMs: number): Obj {
  return {
    method,
    host: x.authority,
    path: x.path,
    status,
    route: x.route,
    backend: x.backend,
    client: x.client,
    consumer: x.consumer || undefined,
    code: x.code,
    policy: x.policy,
    durationMs,
  };
}

function facts(over: Partial<GatewayAccessFacts>): GatewayAccessFacts {
  const base: GatewayAccessFacts = { authority: 'api.test', path: '/things', route: 'test/api#0', backend: 'test/app:80', client: '127.0.0.1', consumer: 'alice', code: undefined, policy: undefined };
  return Object.assign(base, over);
}

// Strings a client controls reach the line through the method, host, path and consumer (a JWT's
// subject); the route, backend and policy names come from configuration.
const HOSTILE: Record<string, string> = {
  quotes: '/a"b"c',
  backslashes: '/a\\b\\\\c\\',
  'quote after backslash': '/\\"',
  'control characters': '/\u0000\u0001\b\f\n\r\t\u001f\u007f',
  'latin-1 as the HTTP parser gives bytes 0x80-0xff': '/caf\u00e9\u00ff\u0080',
  'non-ASCII and astral': '/\u65e5\u672c/\u{1f600}',
  'line separators': '/\u2028\u2029',
  'a JSON injection attempt': '/x","status":200,"consumer":"admin',
  "long (over pino's 100-character fast path)": '/' + 'a"\\'.repeat(60),
  empty: '',
};

t.test('a line with hostile strings is byte for byte the line pino wrote, and valid JSON', async (t) => {
  for (const [what, s] of Object.entries(HOSTILE)) {
    const ours: string[] = [];
    const theirs: string[] = [];
    const raw = RawLogLine.of(fixedLogger(ours), GATEWAY_ACCESS_KEYS);
    if (!raw) throw new Error('a createLogger-shaped logger must take the fast path');
    const line = new GatewayAccessLine(raw);
    const pinoLog = fixedLogger(theirs);
    const cases: [string | undefined, GatewayAccessFacts, number][] = [
      ['GET', facts({ path: s }), 200],
      [s, facts({ authority: s, consumer: s }), 200],
      ['POST', facts({ client: s, route: s, backend: s, policy: s, code: ('WEFT_ERR_' + s) as ErrorCode }), 429],
      [undefined, facts({ authority: undefined, consumer: undefined, path: s }), 0],
      ['GET', facts({ consumer: '', code: 'WEFT_ERR_NO_ROUTE', route: '-', backend: '-' }), 404],
    ];
    for (const [method, x, status] of cases) {
      line.write(method, x, status, 1.23);
      pinoLog.info(pinoObject(method, x, status, 1.23), ACCESS_MSG);
    }
    t.same(ours, theirs, `${what}: the same bytes`);
    for (const l of ours) {
      const parsed = JSON.parse(Buffer.from(l, 'utf8').toString('utf8')) as Obj;
      t.ok(l.endsWith('}\n') && parsed['msg'] === 'access', `${what}: one JSON line`);
    }
  }
});

t.test('durations and statuses are written as pino writes numbers', async (t) => {
  const ours: string[] = [];
  const theirs: string[] = [];
  const raw = RawLogLine.of(fixedLogger(ours), GATEWAY_ACCESS_KEYS);
  if (!raw) throw new Error('fast path expected');
  const line = new GatewayAccessLine(raw);
  for (const ms of [0, 0.01, 12.5, 1234567.89, Number.NaN, Number.POSITIVE_INFINITY]) {
    line.write('GET', facts({}), 503, ms);
    fixedLogger(theirs).info(pinoObject('GET', facts({}), 503, ms), ACCESS_MSG);
  }
  t.same(ours, theirs);
});

t.test("the line goes to createLogger's destination, with its bindings, and not above info", async (t) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', name: 'weft-gateway', pod: 'gw-0', destination: { write: (l: string) => lines.push(l) } });
  const raw = RawLogLine.of(log.child({ component: 'edge' }), GATEWAY_ACCESS_KEYS);
  if (!raw) throw new Error("createLogger's logger must take the hand-written path");
  const line = new GatewayAccessLine(raw);
  line.write('GET', facts({}), 200, 2);
  t.match(JSON.parse(lines[0] ?? '{}'), { level: 30, time: String, pid: process.pid, pod: 'gw-0', name: 'weft-gateway', component: 'edge', method: 'GET', host: 'api.test', status: 200, consumer: 'alice', durationMs: 2, msg: 'access' });
  log.level = 'warn';
  line.write('GET', facts({ path: '/quiet' }), 200, 1);
  t.equal(lines.length, 1, 'a level above info writes no access line');
});
