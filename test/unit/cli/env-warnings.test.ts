// A misspelt WEFT_* variable is warned about at start, naming the likely meant one; the command still runs.
import t from 'tap';
import { PassThrough } from 'node:stream';
import { initCommand } from '../../../cli/init.js';
import { injectCommand } from '../../../cli/inject.js';
import type { CommandContext } from '../../../cli/command.js';

function context(argv: string[], env: Record<string, string>, stdinText = ''): { ctx: CommandContext; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stdin = new PassThrough();
  stdin.end(stdinText);
  return { ctx: { argv, env, stdin, stdout, stderr, shutdown: new AbortController().signal }, out: () => out, err: () => err };
}

t.test('weft init warns about a misspelt variable with a suggestion, and still prints its rules', async (t) => {
  const { ctx, out, err } = context(['--dry-run'], { PATH: '', WEFT_SKIP_INBOUND_PORT: '22', WEFT_INBOUND_MODE: 'strict', WEFT_LOG_LEVEL: 'info' });
  t.equal(await initCommand.run(ctx), 0);
  t.match(err(), 'weft init: warning: WEFT_SKIP_INBOUND_PORT is not a weft setting and is ignored; did you mean WEFT_SKIP_INBOUND_PORTS?');
  t.notMatch(err(), 'WEFT_LOG_LEVEL', "another component's variable is not warned about");
  t.notMatch(err(), 'WEFT_INBOUND_MODE is not', 'its own variables are not warned about');
  t.match(out(), /-A WEFT_INBOUND -p tcp .*-j REDIRECT --to-ports 7006/, 'the rules are still printed');
});

t.test('weft inject warns about a misspelt injector variable', async (t) => {
  const { ctx, err } = context(['-f', '-'], { WEFT_INJECTOR_IMAGES: 'x' }, 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n');
  t.equal(await injectCommand.run(ctx), 0);
  t.match(err(), 'warning: WEFT_INJECTOR_IMAGES is not a weft setting and is ignored; did you mean WEFT_INJECTOR_IMAGE?');
});
