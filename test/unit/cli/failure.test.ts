// How failures are reported: expected ones as one coded line without a stack, bugs with theirs.
import t from 'tap';
import { describeFailure, formatFailure } from '../../../cli/failure.js';
import { WeftError } from '../../../lib/errors.js';
import { COMMANDS } from '../../../cli/commands.js';
import { COMMAND_HELP, didYouMean } from '../../../cli/help.js';

t.test('a WeftError keeps its code; bad input exits 2, other failures 1', async (t) => {
  t.match(describeFailure(new WeftError('WEFT_ERR_CONFIG', 'x')), { code: 'WEFT_ERR_CONFIG', exit: 2 });
  t.match(describeFailure(new WeftError('WEFT_ERR_KUBE_CONFIG', 'y')), { code: 'WEFT_ERR_KUBE_CONFIG', exit: 1 });
  t.equal(formatFailure('weft ca', describeFailure(new WeftError('WEFT_ERR_KUBE_CONFIG', 'no cluster'))), 'weft ca: WEFT_ERR_KUBE_CONFIG: no cluster\n');
});

t.test('a busy or foreign listen address is WEFT_ERR_LISTEN naming the address', async (t) => {
  const busy = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:7020'), { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 7020 });
  const f = describeFailure(busy);
  t.match(f, { code: 'WEFT_ERR_LISTEN', message: '127.0.0.1:7020 is already in use (EADDRINUSE)', exit: 1 });
  t.equal(f.stack, undefined);
  const foreign = Object.assign(new Error('x'), { code: 'EADDRNOTAVAIL', syscall: 'bind', address: '10.9.9.9', port: 1 });
  t.match(describeFailure(foreign).message, '10.9.9.9:1 is not an address of this machine');
});

t.test('an unreadable file is WEFT_ERR_FILE; a parseArgs error is WEFT_ERR_USAGE', async (t) => {
  t.match(describeFailure(Object.assign(new Error('ENOENT'), { code: 'ENOENT', syscall: 'open', path: '/x' })), { code: 'WEFT_ERR_FILE', message: 'cannot read /x: no such file or directory' });
  t.match(describeFailure(Object.assign(new TypeError("Unknown option '--x'"), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' })), { code: 'WEFT_ERR_USAGE', exit: 2 });
});

t.test('anything else is a bug: WEFT_ERR_INTERNAL with its stack, asking for a report', async (t) => {
  const f = describeFailure(new RangeError('boom'));
  t.equal(f.code, 'WEFT_ERR_INTERNAL');
  t.match(f.stack, /RangeError: boom\n\s+at /);
  t.match(formatFailure('weft up', f), /^weft up: WEFT_ERR_INTERNAL: boom\nRangeError: boom[\s\S]*this is a bug in weft/);
});

t.test('every subcommand has help, and help names no command that does not exist', async (t) => {
  t.same(Object.keys(COMMAND_HELP).sort(), Object.keys(COMMANDS).sort());
});

t.test('did you mean: typos, a dropped dash and a prefix are suggested; unrelated words are not', async (t) => {
  const names = Object.keys(COMMANDS);
  t.equal(didYouMean('prxy', names), 'proxy');
  t.equal(didYouMean('gatewya', names), 'gateway');
  t.equal(didYouMean('awaitproxy', names), 'await-proxy');
  t.equal(didYouMean('dest', names), 'destination');
  t.equal(didYouMean('kubectl', names), undefined);
});
