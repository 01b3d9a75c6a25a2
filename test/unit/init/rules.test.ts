import t from 'tap';
import {
  captureSource,
  existingRulesFromSave,
  formatAddress,
  parseAddress,
  parseCaptureOptions,
  parseCidr,
  parsePortRange,
  renderRules,
  type CaptureOptions,
} from '../../../init/rules.js';

const defaults = (): CaptureOptions => parseCaptureOptions({});

function configError(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected an error');
}

/** The rule lines (no comments, no declarations) of a restore input, comments stripped. */
function ruleLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('-A '))
    .map((l) => l.replace(/ -m comment --comment "[^"]*"/, ''));
}

t.test('defaults follow docs/sidecar-config.md', async (t) => {
  const o = defaults();
  t.same(
    { ...o },
    {
      proxyUid: 7007, inboundPort: 7006, outboundPort: 7001, adminPort: 7020, inboundMode: 'strict',
      skipInboundPorts: [], skipOutboundPorts: [], skipOutboundCidrs: [], ipv6: 'auto', dryRun: false, apply: false,
    },
  );
  t.ok(Object.isFrozen(o));
});

t.test('strict defaults render exactly these IPv4 rules', async (t) => {
  t.equal(
    renderRules(defaults(), 4),
    [
      '# weft init: nat rules for iptables (IPv4), inbound mode strict',
      '*nat',
      ':WEFT_PREROUTING - [0:0]',
      ':WEFT_INBOUND - [0:0]',
      ':WEFT_OUTPUT - [0:0]',
      ':WEFT_OUTBOUND - [0:0]',
      '-A WEFT_PREROUTING -p tcp --dport 7006 -m comment --comment "weft: mesh peers dial the inbound listener directly" -j RETURN',
      '-A WEFT_PREROUTING -p tcp --dport 7020 -m comment --comment "weft: admin port: kubelet probes, metrics" -j RETURN',
      '-A WEFT_PREROUTING -p tcp -m comment --comment "weft: every other inbound connection" -j WEFT_INBOUND',
      '-A WEFT_INBOUND -p tcp -m comment --comment "weft: to the mTLS listener" -j REDIRECT --to-ports 7006',
      '-A WEFT_OUTPUT -m owner --uid-owner 7007 -m comment --comment "weft: the proxy\'s own connections" -j RETURN',
      '-A WEFT_OUTPUT -o lo -m comment --comment "weft: loopback: the pod talking to itself" -j RETURN',
      '-A WEFT_OUTPUT -d 127.0.0.0/8 -m comment --comment "weft: loopback destinations" -j RETURN',
      '-A WEFT_OUTPUT -p tcp -m comment --comment "weft: every other outbound connection" -j WEFT_OUTBOUND',
      '-A WEFT_OUTBOUND -p tcp -m comment --comment "weft: to the outbound listener" -j REDIRECT --to-ports 7001',
      '-A PREROUTING -j WEFT_PREROUTING',
      '-A OUTPUT -j WEFT_OUTPUT',
      'COMMIT',
      '',
    ].join('\n'),
  );
});

t.test('permissive mode declares the inbound chains but redirects nothing inbound', async (t) => {
  const text = renderRules(parseCaptureOptions({ WEFT_INBOUND_MODE: 'permissive' }), 4);
  t.match(text, /^:WEFT_PREROUTING - \[0:0\]$/m);
  t.match(text, /^:WEFT_INBOUND - \[0:0\]$/m);
  t.notOk(ruleLines(text).some((l) => l.startsWith('-A WEFT_PREROUTING') || l.startsWith('-A WEFT_INBOUND')));
  t.notMatch(text, /--to-ports 7006/);
  // Outbound capture is the same in both modes.
  t.match(text, /-A WEFT_OUTBOUND -p tcp .*-j REDIRECT --to-ports 7001/);
  t.match(text, /^-A PREROUTING -j WEFT_PREROUTING$/m);
});

t.test('skipped inbound ports return before the redirect, ranges as a:b', async (t) => {
  const o = parseCaptureOptions({ WEFT_SKIP_INBOUND_PORTS: '9090, 10000-10010,9090' });
  t.same(o.skipInboundPorts, [{ from: 9090, to: 9090 }, { from: 10000, to: 10010 }]);
  const rules = ruleLines(renderRules(o, 4));
  const skip1 = rules.indexOf('-A WEFT_PREROUTING -p tcp --dport 9090 -j RETURN');
  const skip2 = rules.indexOf('-A WEFT_PREROUTING -p tcp --dport 10000:10010 -j RETURN');
  const redirect = rules.indexOf('-A WEFT_PREROUTING -p tcp -j WEFT_INBOUND');
  t.ok(skip1 >= 0 && skip2 > skip1 && redirect > skip2, rules.join('\n'));
  // The skip list does not touch outbound.
  t.notOk(rules.some((l) => l.startsWith('-A WEFT_OUTPUT') && l.includes('9090')));
});

t.test('skipped outbound ports and CIDRs return before the outbound redirect, per family', async (t) => {
  const o = parseCaptureOptions({
    WEFT_SKIP_OUTBOUND_PORTS: '5432,6379-6380',
    WEFT_SKIP_OUTBOUND_CIDRS: '10.96.0.0/12,fd00::/8,169.254.169.254,2001:db8::1',
  });
  const v4 = ruleLines(renderRules(o, 4));
  const v6 = ruleLines(renderRules(o, 6));
  const last4 = v4.indexOf('-A WEFT_OUTPUT -p tcp -j WEFT_OUTBOUND');
  for (const rule of [
    '-A WEFT_OUTPUT -d 10.96.0.0/12 -j RETURN',
    '-A WEFT_OUTPUT -d 169.254.169.254/32 -j RETURN',
    '-A WEFT_OUTPUT -p tcp --dport 5432 -j RETURN',
    '-A WEFT_OUTPUT -p tcp --dport 6379:6380 -j RETURN',
  ]) {
    const at = v4.indexOf(rule);
    t.ok(at >= 0 && at < last4, `${rule} before the redirect`);
  }
  t.notOk(v4.some((l) => l.includes('fd00::')), 'no IPv6 network in iptables rules');
  t.ok(v6.includes('-A WEFT_OUTPUT -d fd00::/8 -j RETURN'));
  t.ok(v6.includes('-A WEFT_OUTPUT -d 2001:db8::1/128 -j RETURN'));
  t.ok(v6.includes('-A WEFT_OUTPUT -p tcp --dport 5432 -j RETURN'), 'ports apply to both families');
  t.notOk(v6.some((l) => l.includes('10.96.0.0')), 'no IPv4 network in ip6tables rules');
});

t.test('IPv6 rules use ::1 for loopback and otherwise match IPv4', async (t) => {
  const v4 = renderRules(defaults(), 4);
  const v6 = renderRules(defaults(), 6);
  t.match(v6, /ip6tables \(IPv6\)/);
  t.match(v6, /-A WEFT_OUTPUT -d ::1\/128 .*-j RETURN/);
  t.notMatch(v6, /127\.0\.0\.0/);
  t.same(
    ruleLines(v6).filter((l) => !l.includes('::1')),
    ruleLines(v4).filter((l) => !l.includes('127.0.0.0/8')),
  );
});

t.test('the proxy UID is never redirected and is the first outbound rule', async (t) => {
  const rules = ruleLines(renderRules(parseCaptureOptions({ WEFT_PROXY_UID: '1337' }), 4));
  t.equal(rules.find((l) => l.startsWith('-A WEFT_OUTPUT')), '-A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN');
});

t.test('custom proxy ports change every rule that names them', async (t) => {
  const text = renderRules(
    parseCaptureOptions({ WEFT_INBOUND_PORT: '15006', WEFT_OUTBOUND_PORT: '15001', WEFT_ADMIN_PORT: '15020' }),
    4,
  );
  t.match(text, /--dport 15006 .*-j RETURN/);
  t.match(text, /--dport 15020 .*-j RETURN/);
  t.match(text, /REDIRECT --to-ports 15006/);
  t.match(text, /REDIRECT --to-ports 15001/);
  t.notMatch(text, /\b700[16]\b|\b7020\b/);
});

t.test('jumps present in the current table are not added again', async (t) => {
  const save = [
    '# Generated by iptables-save v1.8.9 (nf_tables)',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':WEFT_OUTPUT - [0:0]',
    ':WEFT_PREROUTING - [0:0]',
    '-A PREROUTING -j WEFT_PREROUTING',
    '-A OUTPUT -j WEFT_OUTPUT',
    '-A WEFT_OUTPUT -m owner --uid-owner 7007 -j RETURN',
    'COMMIT',
  ].join('\n');
  const existing = existingRulesFromSave(save);
  t.same([...existing.jumps].sort(), ['-A OUTPUT -j WEFT_OUTPUT', '-A PREROUTING -j WEFT_PREROUTING']);
  const text = renderRules(defaults(), 4, existing);
  t.notMatch(text, /^-A PREROUTING/m);
  t.notMatch(text, /^-A OUTPUT/m);
  // Chains are still declared, so iptables-restore --noflush flushes and refills them.
  t.match(text, /^:WEFT_OUTPUT - \[0:0\]$/m);

  const partial = existingRulesFromSave('*nat\n-A OUTPUT -j WEFT_OUTPUT\n-A PREROUTING -j OTHER\nCOMMIT\n');
  const text2 = renderRules(defaults(), 4, partial);
  t.match(text2, /^-A PREROUTING -j WEFT_PREROUTING$/m);
  t.notMatch(text2, /^-A OUTPUT -j WEFT_OUTPUT$/m);
  t.same([...existingRulesFromSave('').jumps], []);
});

t.test('rendering is deterministic', async (t) => {
  const o = parseCaptureOptions({ WEFT_SKIP_OUTBOUND_CIDRS: '10.0.0.0/8', WEFT_SKIP_INBOUND_PORTS: '1-2' });
  t.equal(renderRules(o, 4), renderRules(o, 4));
});

t.test('every problem is reported at once with WEFT_ERR_CONFIG', async (t) => {
  const err = configError(() =>
    parseCaptureOptions({
      WEFT_PROXY_UID: 'root',
      WEFT_INBOUND_PORT: '70000',
      WEFT_INBOUND_MODE: 'lenient',
      WEFT_SKIP_INBOUND_PORTS: '80,http,0,9-3',
      WEFT_SKIP_OUTBOUND_PORTS: '65536',
      WEFT_SKIP_OUTBOUND_CIDRS: '10.0.0.1/8,300.1.1.1,fd00::/129,nope',
      WEFT_IPV6: 'maybe',
      WEFT_DRY_RUN: 'perhaps',
    }),
  );
  t.equal(err.code, 'WEFT_ERR_CONFIG');
  for (const fragment of [
    'WEFT_PROXY_UID="root" is not an integer',
    'WEFT_INBOUND_PORT=70000 is above the maximum 65535',
    'WEFT_INBOUND_MODE="lenient" must be one of strict, permissive',
    'WEFT_SKIP_INBOUND_PORTS: "http" is not a port',
    'WEFT_SKIP_INBOUND_PORTS: "0": port 0 is out of range',
    'WEFT_SKIP_INBOUND_PORTS: "9-3": the range ends before it starts',
    'WEFT_SKIP_OUTBOUND_PORTS: "65536": port 65536 is out of range',
    'WEFT_SKIP_OUTBOUND_CIDRS: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?',
    'WEFT_SKIP_OUTBOUND_CIDRS: "300.1.1.1" is not an IPv4 or IPv6 address',
    'WEFT_SKIP_OUTBOUND_CIDRS: "fd00::/129": the prefix length must be 0-128',
    'WEFT_SKIP_OUTBOUND_CIDRS: "nope" is not',
    'WEFT_IPV6="maybe"',
    'WEFT_DRY_RUN="perhaps"',
  ]) {
    t.ok(err.message.includes(fragment), `mentions ${fragment}`);
  }
});

t.test('the proxy ports must differ', async (t) => {
  const err = configError(() => parseCaptureOptions({ WEFT_OUTBOUND_PORT: '7006', WEFT_ADMIN_PORT: '7006' }));
  t.match(err.message, 'WEFT_INBOUND_PORT and WEFT_OUTBOUND_PORT are both 7006');
  t.match(err.message, 'WEFT_INBOUND_PORT and WEFT_ADMIN_PORT are both 7006');
  t.match(err.message, 'WEFT_OUTBOUND_PORT and WEFT_ADMIN_PORT are both 7006');
});

t.test('flags override the environment and errors name what the user typed', async (t) => {
  const { source, problems } = captureSource(
    ['--inbound-mode', 'permissive', '--skip-outbound-ports=5432', '--dry-run', '--proxy-uid', 'x'],
    { WEFT_INBOUND_MODE: 'strict', WEFT_SKIP_INBOUND_PORTS: '9000', UNRELATED: 'y' },
  );
  t.same(problems, []);
  t.same(source, {
    WEFT_INBOUND_MODE: 'strict',
    WEFT_SKIP_INBOUND_PORTS: '9000',
    '--inbound-mode': 'permissive',
    '--skip-outbound-ports': '5432',
    '--dry-run': 'true',
    '--proxy-uid': 'x',
  });
  const err = configError(() => parseCaptureOptions(source, problems));
  t.match(err.message, '--proxy-uid="x" is not an integer');
  const ok = parseCaptureOptions({ ...source, '--proxy-uid': '1000' });
  t.equal(ok.inboundMode, 'permissive');
  t.same(ok.skipInboundPorts, [{ from: 9000, to: 9000 }]);
  t.same(ok.skipOutboundPorts, [{ from: 5432, to: 5432 }]);
  t.equal(ok.dryRun, true);
});

t.test('unknown flags and missing values are problems in the same error', async (t) => {
  const { source, problems } = captureSource(['--bogus', '--admin-port', '--inbound-port'], {});
  t.same(problems, ['unknown argument "--bogus"', '--admin-port needs a value', '--inbound-port needs a value']);
  const err = configError(() => parseCaptureOptions({ ...source, WEFT_INBOUND_MODE: 'x' }, problems));
  t.match(err.message, 'unknown argument "--bogus"');
  t.match(err.message, 'WEFT_INBOUND_MODE="x"');
  t.same(captureSource(['--dry-run=false'], {}).source, { '--dry-run': 'false' });
});

t.test('port ranges', async (t) => {
  t.same(parsePortRange('80'), { from: 80, to: 80 });
  t.same(parsePortRange(' 1-65535 '), { from: 1, to: 65535 });
  t.same(parsePortRange('5-5'), { from: 5, to: 5 });
  for (const bad of ['', '-1', '1-', 'a', '1:2', '1-2-3', '65536', '0-1']) t.type(parsePortRange(bad), 'string', bad);
});

t.test('CIDRs and addresses', async (t) => {
  t.same(parseCidr('10.96.0.0/12'), { family: 4, address: '10.96.0.0', prefix: 12 });
  t.same(parseCidr('0.0.0.0/0'), { family: 4, address: '0.0.0.0', prefix: 0 });
  t.same(parseCidr('192.168.1.7'), { family: 4, address: '192.168.1.7', prefix: 32 });
  t.same(parseCidr('FD00:0:0::/8'), { family: 6, address: 'fd00::', prefix: 8 });
  t.same(parseCidr('::/0'), { family: 6, address: '::', prefix: 0 });
  t.same(parseCidr('::ffff:10.0.0.1'), { family: 6, address: '::ffff:a00:1', prefix: 128 });
  t.match(parseCidr('fd00::1/8'), /did you mean fd00::\/8/);
  t.match(parseCidr('10.0.0.0/33'), /prefix length must be 0-32/);
  t.match(parseCidr('10.0.0.0/'), /prefix length/);
  for (const bad of ['1.2.3', '1.2.3.4.5', '256.0.0.0', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', ':::', '1.2.3.4::']) {
    t.equal(parseAddress(bad), undefined, bad);
  }
  t.same(parseAddress('1:2:3:4:5:6:7:8'), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  t.equal(parseAddress('1:2:3:4:5:6:7::8'), undefined, ':: must stand for at least one group');
  t.equal(formatAddress([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]), '2001:db8::1:0:0:1');
  t.equal(formatAddress(new Array<number>(16).fill(0)), '::');
  t.equal(formatAddress([0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7]), '1:0:2:3:4:5:6:7', 'a single zero group stays');
});
