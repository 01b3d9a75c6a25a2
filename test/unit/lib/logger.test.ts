// The process logger: WEFT_POD_NAME reaches every line as `pod`, so lines from many replicas say whose they are.
import t from 'tap';
import { createLogger } from '../../../lib/logger.js';

function sink(): { lines: Record<string, unknown>[]; write(line: string): void } {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
}

t.test('every line carries the pod name when one is given', async (t) => {
  const out = sink();
  const log = createLogger({ level: 'info', name: 'weft-proxy', pod: 'web-7d9f-abcde', destination: out });
  log.info('proxy started');
  log.child({ route: 'orders' }).warn({ code: 'WEFT_ERR_CONNECT' }, 'endpoint unreachable');
  t.equal(out.lines.length, 2);
  for (const line of out.lines) t.equal(line['pod'], 'web-7d9f-abcde');
  t.equal(out.lines[1]?.['name'], 'weft-proxy');
});

t.test('no pod field at all when no pod name is known', async (t) => {
  const out = sink();
  createLogger({ level: 'info', name: 'weft-ca', destination: out }).info('started');
  t.notOk('pod' in (out.lines[0] ?? {}));
});
