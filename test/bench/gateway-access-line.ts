// `npm run bench` section for the gateway's access-log line alone, in process: the pino object the
// handler logged before beside the hand-serialised line (gateway/access-line.ts), same logger as
// createLogger makes, a destination that drops the bytes, rounds alternated.
import { loadavg } from 'node:os';
import { createLogger } from '../../lib/logger.js';
import { RawLogLine } from '../../lib/raw-log-line.js';
import { ACCESS_MSG, GatewayAccessLine, GATEWAY_ACCESS_KEYS, type GatewayAccessFacts } from '../../gateway/access-line.js';
import type { BenchSection } from './report.js';

const LINES = 400_000;
const ROUNDS = 7;

/** Runs the gateway access-line benchmark and returns its section. */
export async function benchGatewayAccessLine(): Promise<BenchSection> {
  const log = createLogger({ level: 'info', name: 'weft-gateway', pod: 'gw-0', destination: { write: () => undefined } });
  const raw = RawLogLine.of(log, GATEWAY_ACCESS_KEYS);
  if (!raw) throw new Error("createLogger's logger must take the hand-written path");
  const line = new GatewayAccessLine(raw);
  const paths = ['/', '/api/v1/orders/123', '/search', '/static/app.js'];
  const facts: GatewayAccessFacts[] = paths.map((path) => ({ authority: 'bench.test', path, route: 'test/bench#0', backend: 'test/bench:80', client: '127.0.0.1', consumer: 'alice', code: undefined, policy: undefined }));
  const before = (x: GatewayAccessFacts, d: number): void => {
    // The object gateway/handler.ts logged through pino before the hand-written line.
    log.info({ method: 'GET', host: x.authority, path: x.path, status: 200, route: x.route, backend: x.backend, client: x.client, consumer: x.consumer || undefined, code: x.code, policy: x.policy, durationMs: d }, ACCESS_MSG);
  };
  const after = (x: GatewayAccessFacts, d: number): void => line.write('GET', x, 200, d);
  const time = (write: (x: GatewayAccessFacts, d: number) => void): number => {
    // CPU time, not wall time: the machine is shared, and a descheduled stretch is not the line's cost.
    const start = process.cpuUsage();
    for (let i = 0; i < LINES; i++) write(facts[i & 3] as GatewayAccessFacts, Math.round((1.2345 + i * 1e-4) * 100) / 100);
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
    title: "gateway access-log line, in process (one line per request; on by default at the edge)",
    baselineName: 'pino object (before)',
    rows: [{ figure: 'us per line, hand-serialised', weft: median(handUs), baseline: median(pinoUs) }],
    notes: [`${LINES} lines per round, ${ROUNDS} rounds alternated, medians; CPU time (user + system) of this process; load average at start ${load.map((x) => x.toFixed(2)).join(' ')}.`],
  };
}
