// The README's own-app recipe, run as written: its two shell blocks are taken from README.md and
// run with bash in a network namespace of their own (so its fixed addresses, 127.0.0.1:7001 and
// 127.0.10.x, collide with nothing else on the machine), with `weft` on PATH as after `npm link`.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEFT_MAIN } from '../support/local-mesh.js';
import { netnsUnavailable, run } from '../support/netns.js';
import { waitForOutput } from '../support/child-output.js';

const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Your own app in `weft up`'));
const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').slice(0, 2);

t.test('the README own-app recipe works as written', async (t) => {
  t.equal(blocks.length, 2, 'the section has the start block and the curl block');
  const [start = '', request = ''] = blocks;
  t.match(start, /weft up -f my-mesh\.yaml/);
  const why = await netnsUnavailable();
  if (why) {
    t.fail(`network namespaces are not usable here, so the recipe cannot run isolated: ${why}`);
    return;
  }
  const ns = `weft-cli-readme-${process.pid}`;
  t.equal((await run('ip', ['netns', 'add', ns])).code, 0);
  t.teardown(() => run('ip', ['netns', 'del', ns]));
  t.equal((await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])).code, 0);

  const cwd = await mkdtemp(join(tmpdir(), 'weft-readme-'));
  t.teardown(() => rm(cwd, { recursive: true, force: true }));
  const bin = join(cwd, 'bin');
  await run('mkdir', ['-p', bin]);
  await writeFile(join(bin, 'weft'), `#!/bin/sh\nexec ${process.execPath} ${WEFT_MAIN} "$@"\n`);
  await chmod(join(bin, 'weft'), 0o755);
  const env = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: cwd };

  // The first block, as a terminal would run it: its own process group, stopped by Ctrl-C (SIGINT to the group).
  const up = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', start], { cwd, env, detached: true });
  let out = '';
  up.stdout.on('data', (d: Buffer) => (out += d.toString()));
  up.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => up.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (up.exitCode === null && up.pid !== undefined) process.kill(-up.pid, 'SIGKILL');
  });
  await waitForOutput(up, () => out, /Ctrl-C stops everything/, 90_000);
  t.match(out, /health: healthy: 2\/2 sidecars ready/);
  t.match(out, /myapp-0 +127\.0\.10\.2 +127\.0\.0\.1:9000 \(yours\)/, 'the layout shows your app behind myapp-0');

  // The second block, in "another terminal": its output is the comment under the command.
  const commands = request.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).join('\n');
  const expected = request.split('\n').filter((l) => l.startsWith('# ')).map((l) => l.slice(2)).join('\n');
  const answer = await run('ip', ['netns', 'exec', ns, 'bash', '-c', commands], { env });
  t.equal(answer.code, 0, answer.stderr);
  t.equal(answer.stdout.trim(), expected, 'the answer is the one the README shows');

  process.kill(-(up.pid ?? 0), 'SIGINT');
  t.equal(await exited, 0, out);
  t.match(out, /stopped\.\n$/);
  const after = await run('ip', ['netns', 'exec', ns, 'curl', '-s', '--max-time', '2', 'http://127.0.0.1:9000/']);
  t.not(after.code, 0, 'your app stopped with the mesh');
});
