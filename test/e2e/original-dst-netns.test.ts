// The SO_ORIGINAL_DST addon for real: iptables REDIRECT inside a network namespace, a real
// connection, and the original destination read back from the accepted socket.
import t from 'tap';
import { NetnsLab, netnsUnavailable, run, runOk } from '../support/netns.js';
import { loadOriginalDstAddon } from '../../proxy/capture/original-dst.js';

const probe = new URL('../../dist-test/test/support/original-dst-probe.js', import.meta.url).pathname;

t.test('reads the pre-REDIRECT destination for IPv4, IPv6 and dual-stack sockets', async (t) => {
  const addon = loadOriginalDstAddon();
  if (addon instanceof Error) {
    t.fail(`the native addon is not available (npm run build:native): ${addon.message}`);
    return;
  }
  const why = await netnsUnavailable();
  if (why) {
    t.fail(`network namespaces are not usable here, so SO_ORIGINAL_DST cannot be tested: ${why}`);
    return;
  }
  const lab = new NetnsLab('odst', 12);
  t.teardown(() => lab.delete());
  const ns = await lab.bare('a');
  // A veth pair inside the namespace gives the made-up destinations a route; every packet is
  // redirected to loopback before it could leave.
  await runOk('ip', ['-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
  await runOk('ip', ['-n', ns, 'link', 'set', 'd1', 'up']);
  await runOk('ip', ['-n', ns, 'addr', 'add', '10.233.12.2/24', 'dev', 'd0']);
  await runOk('ip', ['-n', ns, 'addr', 'add', 'fd00:233:12::2/64', 'dev', 'd0', 'nodad']);
  await runOk('ip', ['-n', ns, 'link', 'set', 'd0', 'up']);

  const r = await run('ip', ['netns', 'exec', ns, process.execPath, probe, '10.233.12.9', 'fd00:233:12::9'], { timeoutMs: 20_000 });
  t.equal(r.code, 0, r.stderr);
  const results = JSON.parse(r.stdout) as { case: string; destination?: unknown; redirected?: boolean; error?: string }[];
  const byCase = new Map(results.map((x) => [x.case, x]));
  t.same(byCase.get('ipv4 redirected'), { case: 'ipv4 redirected', destination: { address: '10.233.12.9', port: 5555, family: 4 }, redirected: true });
  t.match(byCase.get('ipv4 direct'), { redirected: false, destination: { address: '127.0.0.1', family: 4 } });
  t.match(byCase.get('destroyed socket')?.error, /^WEFT_ERR_ORIGINAL_DST: /);
  t.same(byCase.get('ipv6 redirected'), { case: 'ipv6 redirected', destination: { address: 'fd00:233:12::9', port: 5556, family: 6 }, redirected: true });
  t.same(byCase.get('ipv4 on a dual-stack listener'), {
    case: 'ipv4 on a dual-stack listener',
    destination: { address: '10.233.12.9', port: 5557, family: 4 },
    redirected: true,
  });
});
