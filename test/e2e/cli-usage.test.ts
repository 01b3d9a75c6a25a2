// The `weft` command as a new user meets it: every subcommand's --help (usage, examples, the
// environment it reads, exit 0, nothing started), `weft help <cmd>`, "did you mean", and a bad input
// to each subcommand answered with one coded line and no stack trace. Runs the built dist/cli/main.js.
import t from 'tap';
import { run } from '../support/netns.js';
import { COMMANDS } from '../../cli/commands.js';
import { COMMAND_HELP } from '../../cli/help.js';
import { COMPONENT_SETTINGS } from '../../cli/settings.js';

const main = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const weft = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [main, ...args], { env: { PATH: process.env.PATH, ...env }, timeoutMs: 20_000 });
// A V8 stack frame: "    at fn (file:line:col)".
const STACK = /^\s+at .*:\d+:\d+\)?$/m;

t.test('every subcommand has --help: usage, examples and its variables from the settings tables; exit 0, nothing started', async (t) => {
  for (const name of Object.keys(COMMANDS)) {
    // Settings that would let the servers start, so only --help can make them exit at once.
    const r = await weft([name, '--help'], { WEFT_MODE: 'local', WEFT_POD_NAME: 'p', WEFT_POD_NAMESPACE: 'n', WEFT_SERVICE_ACCOUNT: 's' });
    t.equal(r.code, 0, `${name} --help exits 0: ${r.stderr}`);
    t.match(r.stdout, new RegExp(`^usage:\\n  weft ${name}`, 'm'), `${name} prints usage`);
    t.match(r.stdout, /^examples:\n {2}\S/m, `${name} prints examples`);
    t.equal(r.stderr, '', `${name} --help writes nothing to stderr`);
    for (const table of COMMAND_HELP[name]?.settings ?? []) {
      for (const row of Object.values(COMPONENT_SETTINGS[table] ?? {})) t.match(r.stdout, `  ${row.name}`, `${name} --help lists ${row.name}`);
    }
  }
});

t.test('the servers list the variables they read; init lists its flags too', async (t) => {
  t.match((await weft(['proxy', '--help'])).stdout, /^ {2}WEFT_MODE\n {6}enum: local, kubernetes; default kubernetes/m);
  t.match((await weft(['init', '-h'])).stdout, /^ {2}WEFT_INIT_APPLY \(--apply\)$/m);
});

t.test('weft help <cmd> prints the same as weft <cmd> --help', async (t) => {
  const a = await weft(['help', 'up']);
  const b = await weft(['up', '--help']);
  t.equal(a.code, 0);
  t.equal(a.stdout, b.stdout);
  t.match(a.stdout, /^weft up: /);
  t.match((await weft(['--help'])).stdout, /weft help <command>/, 'the top-level help points at weft help <command>');
});

t.test('a misspelled command gets a coded error and the nearest command', async (t) => {
  const r = await weft(['prxy']);
  t.equal(r.code, 2);
  t.equal(r.stderr, 'weft: WEFT_ERR_USAGE: unknown command "prxy"; did you mean "proxy"? (weft --help lists the commands)\n');
  t.match((await weft(['help', 'gatway'])).stderr, 'did you mean "gateway"?');
  t.match((await weft(['awaitproxy'])).stderr, 'did you mean "await-proxy"?');
  const far = await weft(['zzzzzz']);
  t.equal(far.code, 2);
  t.notMatch(far.stderr, 'did you mean', 'no suggestion when nothing is close');
});

// One bad input per subcommand; each must fail with `weft <cmd>: WEFT_ERR_*: ...` and no stack trace.
const BAD: readonly { name: string; args: string[]; env?: NodeJS.ProcessEnv; code: string }[] = [
  { name: 'up', args: ['-f', '/nonexistent/weft-mesh.yaml'], code: 'WEFT_ERR_MESH_FILE' },
  { name: 'up', args: ['--chek'], code: 'WEFT_ERR_USAGE' },
  { name: 'proxy', args: [], env: { WEFT_MODE: 'bogus' }, code: 'WEFT_ERR_CONFIG' },
  { name: 'proxy', args: ['--port', '1'], code: 'WEFT_ERR_USAGE' },
  { name: 'gateway', args: [], env: { WEFT_MODE: 'bogus' }, code: 'WEFT_ERR_CONFIG' },
  { name: 'gateway', args: ['--bogus'], code: 'WEFT_ERR_USAGE' },
  { name: 'ca', args: [], code: 'WEFT_ERR_KUBE_CONFIG' },
  { name: 'ca', args: ['-v'], code: 'WEFT_ERR_USAGE' },
  { name: 'destination', args: [], code: 'WEFT_ERR_KUBE_CONFIG' },
  { name: 'injector', args: [], env: { WEFT_INJECTOR_TLS_DIR: '/nonexistent/weft-tls' }, code: 'WEFT_ERR_SERVING_CERT' },
  { name: 'injector', args: [], env: { WEFT_INJECTOR_ADDR: 'nope:x' }, code: 'WEFT_ERR_CONFIG' },
  { name: 'init', args: ['--dry-run', '--bogus'], code: 'WEFT_ERR_CONFIG' },
  { name: 'stat', args: ['--window', 'x'], code: 'WEFT_ERR_USAGE' },
  { name: 'stat', args: ['-f', '/nonexistent/mesh.yaml'], code: 'WEFT_ERR_MESH_FILE' },
  { name: 'top', args: ['--bogus'], code: 'WEFT_ERR_USAGE' },
  { name: 'tap', args: ['--bogus'], code: 'WEFT_ERR_USAGE' },
  { name: 'tap', args: ['-f', '/nonexistent/mesh.yaml'], code: 'WEFT_ERR_MESH_FILE' },
  { name: 'dashboard', args: ['--listen', 'nowhere:x'], code: 'WEFT_ERR_USAGE' },
  { name: 'authz', args: ['explain'], code: 'WEFT_ERR_USAGE' },
  { name: 'authz', args: ['explain', '-f', '/nonexistent/p.yaml', '--identity', 'x', '--namespace', 'n', '--port', '80'], code: 'WEFT_ERR_FILE' },
  { name: 'check', args: ['-o', 'xml'], code: 'WEFT_ERR_USAGE' },
  { name: 'check', args: ['--bogus'], code: 'WEFT_ERR_USAGE' },
  { name: 'inject', args: ['-f', '/nonexistent/in.yaml'], code: 'WEFT_ERR_FILE' },
  { name: 'inject', args: ['--bogus'], code: 'WEFT_ERR_USAGE' },
  { name: 'await-proxy', args: ['--bogus'], code: 'WEFT_ERR_USAGE' },
  { name: 'await-proxy', args: ['--timeout-seconds'], code: 'WEFT_ERR_USAGE' },
  { name: 'await-proxy', args: ['--timeout-seconds', 'soon'], code: 'WEFT_ERR_USAGE' },
];

t.test('each subcommand answers bad input with one coded line and no stack trace', async (t) => {
  const covered = new Set(BAD.map((b) => b.name));
  t.same(Object.keys(COMMANDS).filter((n) => !covered.has(n)), [], 'every subcommand is tried');
  for (const b of BAD) {
    const r = await weft([b.name, ...b.args], b.env);
    const what = `weft ${[b.name, ...b.args].join(' ')}`;
    t.not(r.code, 0, `${what} fails`);
    t.match(r.stderr, new RegExp(`^weft ${b.name}: ${b.code}: \\S`), `${what} says ${b.code}: ${r.stderr}`);
    t.notMatch(r.stderr, STACK, `${what} prints no stack trace`);
  }
});
