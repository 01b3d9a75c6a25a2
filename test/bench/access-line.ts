// `npm run bench` section for the access-log line alone, in process: the pino object the recorder
// logged before beside the hand-serialised line (proxy/access-line.ts), same logger as
// createLogger makes, a destination that drops the bytes, rounds alternated.
import { loadavg } from 'node:os';
import { createLogger } from '../../lib/logger.js';
import { RawLogLine } from '../../lib/raw-log-line.js';
import { AccessLine, ACCESS_LINE_KEYS, type AccessFacts } from '../../proxy/access-line.js';
import type { BenchSection } from './report.js';

const LINES = 400_000;
const ROUNDS = 7;

/** Runs the access-line benchmark and returns its section. */
export async function benchAccessLine(): Promise<BenchSection> {
  const log = createLogger({ level: 'info', name: 'weft-proxy', pod: 'server', destination: { write: () => undefined } });
  const raw = RawLogLine.of(log, ACCESS_LINE_KEYS);
  if (!raw) throw new Error("createLogger's logger must take the hand-written path");
  const line = new AccessLine(raw);
  const paths = ['/', '/api/v1/orders/123', '/search?q=a%20b', '/static/app.js'];
  const facts: AccessFacts[] = paths.map((path) => ({ direction: 'inbound', protocol: 'http/1.1', method: 'GET', authority: 'bench.bench', path, service: 'bench/bench:80', peer: 'spiffe://cluster.local/ns/bench/sa/client', endpoint: '127.0.0.1:8080', reason: '', status: 200, errorCode: '' }));
  const before = (e: AccessFacts, d: number): void => {
    // The object ExchangeRecorder logged through pino before the hand-written line.
    const obj = { direction: e.direction, protocol: e.protocol, method: e.method, authority: e.authority, path: e.path, service: e.service || undefined, peer: e.peer || undefined, endpoint: e.endpoint || undefined, reason: e.reason || undefined, status: e.status, error: e.errorCode || undefined, durationMs: Math.round(d * 1000) / 1000 };
    log.info(obj, 'request');
  };
  const after = (e: AccessFacts, d: number): void => line.write(e, d);
  const time = (write: (e: AccessFacts, d: number) => void): number => {
    // CPU time, not wall time: the machine is shared, and a descheduled stretch is not the line's cost.
    const start = process.cpuUsage();
    for (let i = 0; i < LINES; i++) write(facts[i & 3] as AccessFacts, 1.2345 + i * 1e-6);
    const used = process.cpuUsage(start);
    return (used.user + used.system) / LINES;
  };
  const load = loadavg();
  const pinoUs: number[] = [];
  const handUs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    pinoUs.push(time(before));
    handUs.push(time(after));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
  return {
    title: 'access-log line, in process (one line per request per proxy when WEFT_ACCESS_LOG=true)',
    baselineName: 'pino object (before)',
    rows: [{ figure: 'us per line, hand-serialised', weft: median(handUs), baseline: median(pinoUs) }],
    notes: [`${LINES} lines per round, ${ROUNDS} rounds alternated, medians; CPU time (user + system) of this process; load average at start ${load.map((x) => x.toFixed(2)).join(' ')}.`],
  };
}
