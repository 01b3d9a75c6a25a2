// The admin routes that show request details answer loopback clients only: inside a network
// namespace whose lo also holds a non-loopback address, the same admin server refuses a client on
// that address with 403 WEFT_ERR_ADMIN_FORBIDDEN, and a relayed request (X-Forwarded-For) on
// 127.0.0.1 too, and answers a plain one on 127.0.0.1.
import t from 'tap';
import { spawn } from 'node:child_process';
import { netnsUnavailable, run } from '../support/netns.js';
import { TEST_BUILD } from '../support/local-mesh.js';
import { waitForOutput } from '../support/child-output.js';

t.test('a client on a non-loopback address is refused, on loopback it is answered', async (t) => {
  const why = await netnsUnavailable();
  if (why) {
    t.fail(`network namespaces are not usable here, so the admin's loopback rule cannot be tested: ${why}`);
    return;
  }
  const ns = `weft-dash-tap-${process.pid}`;
  const exec = (args: string[]): ReturnType<typeof run> => run('ip', ['netns', 'exec', ns, ...args]);
  t.equal((await run('ip', ['netns', 'add', ns])).code, 0);
  t.teardown(() => run('ip', ['netns', 'del', ns]));
  t.equal((await exec(['ip', 'link', 'set', 'lo', 'up'])).code, 0);
  t.equal((await exec(['ip', 'addr', 'add', '10.77.0.1/32', 'dev', 'lo'])).code, 0);
  const server = spawn('ip', ['netns', 'exec', ns, process.execPath, `${TEST_BUILD}test/support/tap-admin-main.js`, '10.77.0.1:7020', '127.0.0.1:7020']);
  let output = '';
  server.stdout.on('data', (d: Buffer) => (output += d.toString()));
  server.stderr.on('data', (d: Buffer) => (output += d.toString()));
  t.teardown(() => {
    server.kill('SIGKILL');
  });
  await waitForOutput(server, () => output, /listening/, 20_000);

  for (const path of ['/debug/tap', '/debug/recent-failures']) {
    const refused = await exec(['curl', '-s', '-i', '--max-time', '5', '--interface', '10.77.0.1', `http://10.77.0.1:7020${path}`]);
    t.match(refused.stdout, /^HTTP\/1\.1 403/, `${path} from 10.77.0.1 is refused`);
    t.match(refused.stdout, /weft-error: WEFT_ERR_ADMIN_FORBIDDEN/);
    t.match(refused.stdout, /answers loopback clients only, not 10\.77\.0\.1/);
  }
  // Relayed by a proxy on the host (the API server's pods/proxy adds X-Forwarded-For): refused too.
  const relayed = await exec(['curl', '-s', '-i', '--max-time', '5', '-H', 'X-Forwarded-For: 10.1.2.3', 'http://127.0.0.1:7020/debug/recent-failures']);
  t.match(relayed.stdout, /^HTTP\/1\.1 403[\s\S]*not a request relayed for 10\.1\.2\.3/);
  const failures = await exec(['curl', '-s', '-i', '--max-time', '5', 'http://127.0.0.1:7020/debug/recent-failures']);
  t.match(failures.stdout, /^HTTP\/1\.1 200/);
  t.match(failures.stdout, /"total": 0/);
  // A tap streams until the client leaves: curl's bound ends it after the headers arrived.
  const tap = await exec(['curl', '-s', '-i', '--max-time', '1', 'http://127.0.0.1:7020/debug/tap?status=5xx']);
  t.match(tap.stdout, /^HTTP\/1\.1 200[\s\S]*content-type: application\/x-ndjson/);
});
