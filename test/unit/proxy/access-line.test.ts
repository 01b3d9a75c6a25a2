// The hand-serialised access-log line against the pino line the recorder wrote before: byte for
// byte with hostile strings in every request-chosen field, valid JSON in every case, through the
// same destination; and pino's own path when the logger shapes lines in ways the writer does not.
import t from 'tap';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AccessLine, ACCESS_LINE_KEYS, type AccessFacts } from '../../../proxy/access-line.js';
import { jsonString, RawLogLine } from '../../../lib/raw-log-line.js';
import { ExchangeRecorder, startExchange } from '../../../proxy/exchange.js';
import { createProxyMetrics } from '../../../proxy/metrics.js';
import { createLogger, REDACTED_PATHS } from '../../../lib/logger.js';

type Obj = Record<string, unknown>;

// A logger made as createLogger makes one, with a fixed time so two lines can be compared as bytes.
function fixedLogger(sink: string[], level = 'info'): pino.Logger {
  return pino(
    { name: 'weft-proxy', level, base: { pid: 42, pod: 'pod-"0"' }, redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' }, timestamp: () => ',"time":"2026-01-01T00:00:00.000Z"' },
    { write: (line: string) => sink.push(line) },
  );
}

// The object ExchangeRecorder logged through pino before the hand-written line.
function pinoObject(e: AccessFacts, durationMs: number): Obj {
  return {
    direction: e.direction,
    protocol: e.protocol,
    method: e.method,
    authority: e.authority,
    path: e.path,
    service: e.service || undefined,
    peer: e.peer || undefined,
    endpoint: e.endpoint || undefined,
    reason: e.reason || undefined,
    status: e.status,
    error: e.errorCode || undefined,
    durationMs: Math.round(durationMs * 1000) / 1000,
  };
}

function facts(over: Partial<AccessFacts>): AccessFacts {
  const base: AccessFacts = { direction: 'inbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', path: '/', service: 'test/hello:80', peer: 'spiffe://cluster.local/ns/test/sa/client', endpoint: '127.0.0.1:8080', reason: '', status: 200, errorCode: '' };
  return Object.assign(base, over);
}

// Strings a client controls reach the line through the path, the authority and the method.
const HOSTILE: Record<string, string> = {
  quotes: '/a"b"c',
  backslashes: '/a\\b\\\\c\\',
  'quote after backslash': '/\\"',
  'control characters': '/\u0000\u0001\b\f\n\r\t\u001f\u007f',
  'latin-1 as the HTTP parser gives bytes 0x80-0xff': '/caf\u00e9\u00ff\u0080',
  'non-ASCII and astral': '/\u65e5\u672c/\u{1f600}',
  'line separators': '/\u2028\u2029',
  'a JSON injection attempt': '/x","status":200,"peer":"spiffe://evil',
  'long (over pino\'s 100-character fast path)': '/' + 'a"\\'.repeat(60),
  empty: '',
};

t.test('a line with hostile strings is byte for byte the line pino wrote, and valid JSON', async (t) => {
  for (const [what, s] of Object.entries(HOSTILE)) {
    const ours: string[] = [];
    const theirs: string[] = [];
    const raw = RawLogLine.of(fixedLogger(ours), ACCESS_LINE_KEYS);
    if (!raw) throw new Error('a createLogger-shaped logger must take the fast path');
    const line = new AccessLine(raw);
    const pinoLog = fixedLogger(theirs);
    for (const e of [
      facts({ path: s }),
      facts({ authority: s, method: s }),
      facts({ service: s, peer: s, endpoint: s, reason: s, errorCode: 'WEFT_ERR_' + s, status: 502 }),
      facts({ direction: 'outbound', protocol: 'h2', service: '', peer: '', endpoint: '', path: s }),
    ]) {
      line.write(e, 1.23456);
      if (e.errorCode) pinoLog.warn(pinoObject(e, 1.23456), 'request failed');
      else pinoLog.info(pinoObject(e, 1.23456), 'request');
    }
    t.same(ours, theirs, `${what}: the same bytes`);
    for (const l of ours) {
      // As a reader of the log file sees it: UTF-8 bytes back to text, then JSON.
      const parsed = JSON.parse(Buffer.from(l, 'utf8').toString('utf8')) as Obj;
      t.ok(l.endsWith('}\n') && parsed['msg'] !== undefined, `${what}: one JSON line`);
    }
  }
});

t.test('a lone surrogate is escaped, so the line stays valid UTF-8 and keeps the value (pino wrote U+FFFD)', async (t) => {
  for (const s of ['/\ud800', '/x\udfffy', '/\udc00\ud800']) {
    const ours: string[] = [];
    const theirs: string[] = [];
    const raw = RawLogLine.of(fixedLogger(ours), ACCESS_LINE_KEYS);
    if (!raw) throw new Error('fast path expected');
    new AccessLine(raw).write(facts({ path: s }), 1);
    fixedLogger(theirs).info(pinoObject(facts({ path: s }), 1), 'request');
    const ourLine = ours[0] ?? '';
    t.equal(Buffer.from(ourLine, 'utf8').toString('utf8'), ourLine, 'survives the trip through UTF-8 unchanged');
    t.equal((JSON.parse(ourLine) as Obj)['path'], s, 'the value is kept');
    const theirValue = (JSON.parse(Buffer.from(theirs[0] ?? '', 'utf8').toString('utf8')) as Obj)['path'];
    t.equal(theirValue, s.replace(/[\ud800-\udfff]/g, '\ufffd'), 'pino wrote the raw surrogate, which UTF-8 turns into U+FFFD');
    const withoutPath = (l: string): Obj => {
      const o = JSON.parse(Buffer.from(l, 'utf8').toString('utf8')) as Obj;
      delete o['path'];
      return o;
    };
    t.same(withoutPath(ourLine), withoutPath(theirs[0] ?? ''), 'every other field as pino wrote it');
  }
});

t.test('jsonString equals JSON.stringify on every UTF-16 code unit', async (t) => {
  let mismatches = 0;
  for (let c = 0; c <= 0xffff; c++) {
    const s = 'a' + String.fromCharCode(c) + 'b';
    if (jsonString(s) !== JSON.stringify(s)) mismatches++;
  }
  t.equal(mismatches, 0);
});

t.test('the recorder writes through createLogger\'s destination, at its level, with its bindings', async (t) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', name: 'weft-proxy', pod: 'p-0', destination: { write: (l: string) => lines.push(l) } });
  t.ok(RawLogLine.of(log, ACCESS_LINE_KEYS), "createLogger's logger takes the hand-written path");
  let clock = 0;
  const rec = new ExchangeRecorder(createProxyMetrics(new Registry()), log, () => (clock += 2.5), true);
  const ok = startExchange({ direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', path: '/p"q' }, 0);
  ok.peer = 'spiffe://cluster.local/ns/test/sa/hello';
  rec.responded(ok, 200);
  rec.finish(ok);
  const failed = startExchange({ direction: 'inbound', protocol: 'h2', method: 'POST', authority: 'x', path: '/f' }, 0);
  rec.finish(failed, 'WEFT_ERR_APP_UNREACHABLE');
  const [a, b] = lines.map((l) => JSON.parse(l) as Obj);
  t.match(a, { level: 30, time: String, pid: process.pid, pod: 'p-0', name: 'weft-proxy', direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', path: '/p"q', peer: 'spiffe://cluster.local/ns/test/sa/hello', status: 200, durationMs: 5, msg: 'request' });
  t.notOk('service' in (a ?? {}), 'empty fields are left out as before');
  t.match(b, { level: 40, direction: 'inbound', protocol: 'h2', status: 0, error: 'WEFT_ERR_APP_UNREACHABLE', msg: 'request failed' });
  log.level = 'warn';
  const quiet = startExchange({ direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', path: '/quiet' }, 0);
  rec.finish(quiet);
  rec.finish(startExchange({ direction: 'outbound', protocol: 'http/1.1', method: 'GET', authority: 'hello', path: '/loud' }, 0), 'WEFT_ERR_UNKNOWN_SERVICE');
  t.same(lines.slice(2).map((l) => (JSON.parse(l) as Obj)['path']), ['/loud'], 'a level above info drops successes, keeps failures');
  const child = log.child({ component: 'inbound' });
  const childRec = new ExchangeRecorder(createProxyMetrics(new Registry()), child, () => 1, true);
  childRec.finish(startExchange({ direction: 'inbound', protocol: 'http/1.1', method: 'GET', authority: 'c', path: '/c' }, 0), 'WEFT_ERR_FORBIDDEN');
  t.match(JSON.parse(lines[lines.length - 1] ?? '{}'), { component: 'inbound', path: '/c' }, "a child logger's bindings are on the line");
});

t.test('a logger that shapes its lines (mixin, log formatter, message prefix) keeps pino\'s path', async (t) => {
  const sink = { write: (): void => undefined };
  t.equal(RawLogLine.of(pino({ mixin: () => ({ extra: 1 }) }, sink), ACCESS_LINE_KEYS), undefined, 'mixin');
  t.equal(RawLogLine.of(pino({ formatters: { log: (o: Obj) => o } }, sink), ACCESS_LINE_KEYS), undefined, 'log formatter');
  t.equal(RawLogLine.of(pino({ msgPrefix: '[x] ' }, sink), ACCESS_LINE_KEYS), undefined, 'message prefix');
  t.equal(RawLogLine.of(pino({ messageKey: 'message' }, sink), ACCESS_LINE_KEYS), undefined, 'another message key');
  t.equal(RawLogLine.of(pino({ redact: ['path'] }, sink), ACCESS_LINE_KEYS), undefined, 'a redaction on a line key');
  t.equal(RawLogLine.of(pino({ serializers: { peer: (p: string) => p } }, sink), ACCESS_LINE_KEYS), undefined, 'a serializer on a line key');
  const lines: string[] = [];
  const shaped = pino({ mixin: () => ({ extra: 1 }) }, { write: (l: string) => lines.push(l) });
  new ExchangeRecorder(createProxyMetrics(new Registry()), shaped, () => 1, true).finish(startExchange({ direction: 'inbound', protocol: 'http/1.1', method: 'GET', authority: 'a', path: '/m' }, 0));
  t.match(JSON.parse(lines[0] ?? '{}'), { extra: 1, path: '/m', msg: 'request' }, 'the mixin still applies');
});

t.test('past 1024 distinct service/peer/endpoint fragments the cache starts again and lines stay right', async (t) => {
  const ours: string[] = [];
  const theirs: string[] = [];
  const raw = RawLogLine.of(fixedLogger(ours), ACCESS_LINE_KEYS);
  if (!raw) throw new Error('fast path expected');
  const line = new AccessLine(raw);
  const pinoLog = fixedLogger(theirs);
  for (let i = 0; i < 2100; i++) {
    // A peer choosing a new weft-dst-service per request must not grow the cache without bound.
    const e = facts({ service: `ns/svc-${i % 1500}:80`, peer: i % 3 === 0 ? '' : 'spiffe://cluster.local/ns/a/sa/b' });
    line.write(e, 1);
    pinoLog.info(pinoObject(e, 1), 'request');
  }
  t.same(ours, theirs);
});
