// What `weft up` says about a part that is not ready: the last coded line of its log, readable.
import t from 'tap';
import { lastProblem } from '../../../cli/up/health.js';

t.test('the last line with a weft code wins, a pino line shown as code: message', async (t) => {
  const log = [
    '{"level":30,"msg":"starting"}',
    '{"level":50,"code":"WEFT_ERR_GATEWAY_FILE","msg":"route file refused","err":"r.yaml: spec.rules[0]\\n  more"}',
    '{"level":30,"msg":"still trying"}',
  ].join('\n');
  t.equal(lastProblem(log), 'WEFT_ERR_GATEWAY_FILE: route file refused: r.yaml: spec.rules[0]');
});

t.test('a plain stderr line and a log without codes', async (t) => {
  t.equal(lastProblem('weft gateway: WEFT_ERR_CONFIG: invalid configuration:\n  - X\n'), 'weft gateway: WEFT_ERR_CONFIG: invalid configuration:');
  t.equal(lastProblem('one\ntwo\n'), 'two');
  t.equal(lastProblem(''), undefined);
});
