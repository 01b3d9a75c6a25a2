// `weft init` for real: the built CLI run inside fresh network namespaces (root), read back with
// iptables-save. Where namespaces are forbidden the test says why and fails.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsLab, netnsUnavailable, run } from '../support/netns.js';

const main = new URL('../../dist/cli/main.js', import.meta.url).pathname;

/** Our chains and the jumps into them, as iptables-save prints them. */
function weftLines(save: string): string[] {
  return save.split('\n').filter((l) => l.includes('WEFT_'));
}

t.test('--dry-run prints both families and changes nothing', async (t) => {
  const r = await run(process.execPath, [main, 'init', '--dry-run', '--skip-outbound-cidrs', '10.96.0.0/12,fd00::/8']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^# weft init: nat rules for iptables \(IPv4\), inbound mode strict$/m);
  t.match(r.stdout, /^# weft init: nat rules for ip6tables \(IPv6\), inbound mode strict$/m);
  t.match(r.stdout, /-A WEFT_OUTPUT -d 10\.96\.0\.0\/12 /);
  t.match(r.stdout, /-A WEFT_OUTPUT -d fd00::\/8 /);
  t.equal(r.stdout.match(/^COMMIT$/gm)?.length, 2);
  const off = await run(process.execPath, [main, 'init', '--dry-run', '--ipv6=off']);
  t.equal(off.stdout.match(/^COMMIT$/gm)?.length, 1);
});

t.test('bad settings exit 2 listing every problem', async (t) => {
  const r = await run(process.execPath, [main, 'init', '--inbound-mode', 'open', '--bogus', '--skip-inbound-ports', 'x'], {
    env: { PATH: process.env.PATH, WEFT_PROXY_UID: 'nobody' },
  });
  t.equal(r.code, 2);
  t.match(r.stderr, 'WEFT_ERR_CONFIG');
  for (const s of ['--inbound-mode="open"', 'unknown argument "--bogus"', '--skip-inbound-ports: "x"', 'WEFT_PROXY_UID="nobody"']) {
    t.match(r.stderr, s);
  }
});

t.test('missing iptables is a clear coded error', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'weft-nopath-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const r = await run(process.execPath, [main, 'init', '--apply'], { env: { PATH: empty } });
  t.equal(r.code, 1);
  t.match(r.stderr, /WEFT_ERR_CAPTURE_TOOLS: iptables-save and iptables-restore are not on PATH/);
});

t.test('in a network namespace', async (t) => {
  const why = await netnsUnavailable();
  if (why) {
    t.fail(`network namespaces are not usable here, so weft init cannot be tested: ${why}`);
    return;
  }
  const lab = new NetnsLab('init', 11);
  t.teardown(() => lab.delete());
  const ns = await lab.bare('a');
  const inNs = (args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) =>
    run('ip', ['netns', 'exec', ns, ...args], { env });
  const save = async (tool = 'iptables-save'): Promise<string[]> => {
    const r = await inNs([tool, '-t', 'nat']);
    t.equal(r.code, 0, r.stderr);
    return weftLines(r.stdout);
  };

  // A bare weft init (no --apply, not told by the injector it is a pod's init container) refuses
  // and changes no rule; so does WEFT_INIT_APPLY=false. The injector's WEFT_INIT_APPLY=true applies.
  const bare = await inNs([process.execPath, main, 'init']);
  t.equal(bare.code, 2, bare.stderr);
  t.match(bare.stderr, /^weft init: WEFT_ERR_INIT_REFUSED: not changing any rule: .*--apply.*--dry-run/);
  t.notMatch(bare.stderr, /\n\s+at /, 'no stack trace');
  t.same(await save(), [], 'a bare weft init leaves the nat table untouched');
  t.same(await save('ip6tables-save'), [], 'and the IPv6 one');
  const no = await inNs([process.execPath, main, 'init'], { PATH: process.env.PATH, WEFT_INIT_APPLY: 'false' });
  t.equal(no.code, 2, no.stderr);
  t.same(await save(), [], 'WEFT_INIT_APPLY=false changes nothing either');
  const byInjector = await inNs([process.execPath, main, 'init', '--inbound-mode', 'permissive'], { PATH: process.env.PATH, WEFT_INIT_APPLY: 'true' });
  t.equal(byInjector.code, 0, byInjector.stderr);
  t.ok((await save()).includes('-A OUTPUT -j WEFT_OUTPUT'), 'WEFT_INIT_APPLY=true (what the injector sets) applies');

  const first = await inNs([process.execPath, main, 'init', '--apply', '--skip-inbound-ports', '9090', '--skip-outbound-cidrs', '10.96.0.0/12']);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /IPv4 nat rules applied \(strict inbound\)/);
  const once = await save();
  t.ok(once.includes('-A PREROUTING -j WEFT_PREROUTING'), once.join('\n'));
  t.ok(once.includes('-A OUTPUT -j WEFT_OUTPUT'));
  t.ok(once.some((l) => /^-A WEFT_INBOUND -p tcp .*-j REDIRECT --to-ports 7006$/.test(l)));
  t.ok(once.some((l) => /^-A WEFT_OUTBOUND -p tcp .*-j REDIRECT --to-ports 7001$/.test(l)));
  t.ok(once.some((l) => /^-A WEFT_OUTPUT -m owner --uid-owner 7007 .*-j RETURN$/.test(l)));
  t.ok(once.some((l) => /^-A WEFT_PREROUTING -p tcp -m tcp --dport 9090 .*-j RETURN$/.test(l)));
  t.ok(once.some((l) => /^-A WEFT_OUTPUT -d 10\.96\.0\.0\/12 .*-j RETURN$/.test(l)));

  // Idempotent: a second run leaves exactly the same table (no second jump, no doubled rules).
  const second = await inNs([process.execPath, main, 'init', '--apply', '--skip-inbound-ports', '9090', '--skip-outbound-cidrs', '10.96.0.0/12']);
  t.equal(second.code, 0, second.stderr);
  t.same(await save(), once, 'running twice leaves the same rules');

  // IPv6: loopback is up, so the namespace has ::1 and ip6tables gets the same rules.
  const v6 = await save('ip6tables-save');
  t.ok(v6.includes('-A OUTPUT -j WEFT_OUTPUT'), v6.join('\n'));
  t.ok(v6.some((l) => /^-A WEFT_OUTPUT -d ::1\/128 .*-j RETURN$/.test(l)));
  t.notOk(v6.some((l) => l.includes('10.96.0.0')));

  // Switching to permissive is a re-run: the inbound redirect goes, outbound stays, jumps stay single.
  const permissive = await inNs([process.execPath, main, 'init', '--apply', '--inbound-mode', 'permissive']);
  t.equal(permissive.code, 0, permissive.stderr);
  const after = await save();
  t.notOk(after.some((l) => l.includes('--to-ports 7006')), 'no inbound redirect');
  t.notOk(after.some((l) => l.includes('9090')), 'old skip rules gone');
  t.equal(after.filter((l) => l === '-A PREROUTING -j WEFT_PREROUTING').length, 1);
  t.ok(after.some((l) => l.includes('--to-ports 7001')));

  // Without root the kernel refuses, and weft init says what it needs.
  const denied = await inNs(['setpriv', '--reuid=7007', '--regid=7007', '--clear-groups', process.execPath, main, 'init', '--apply']);
  t.equal(denied.code, 1);
  t.match(denied.stderr, /WEFT_ERR_CAPTURE_DENIED: .*needs root with NET_ADMIN and NET_RAW/);
});
