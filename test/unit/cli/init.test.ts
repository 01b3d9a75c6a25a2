import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';
import { chooseFamilies, findOnPath, hasIpv6 } from '../../../cli/init.js';

t.test('IPv6 is written when the pod has it and ip6tables exists, per --ipv6', async (t) => {
  t.same(chooseFamilies('auto', true, true), { families: [4, 6] });
  t.same(chooseFamilies('auto', false, true), { families: [4], note: 'the pod has no IPv6 address; IPv6 rules skipped' });
  t.match(chooseFamilies('auto', true, false), { families: [4], note: /IPv6 traffic is NOT captured/ });
  t.same(chooseFamilies('on', false, true), { families: [4, 6] }, 'on: written even before an address appears');
  t.match(chooseFamilies('on', true, false), { families: [4], error: /--ipv6 on, but ip6tables/ });
  t.match(chooseFamilies('off', true, true), { families: [4], note: /off/ });
});

t.test('a pod has IPv6 when /proc/net/if_inet6 lists any address', async (t) => {
  t.equal(hasIpv6(undefined), false, 'kernel without IPv6');
  t.equal(hasIpv6(''), false, 'IPv6 on, loopback down, no address');
  t.equal(hasIpv6('00000000000000000000000000000001 01 80 10 80       lo\n'), true);
});

t.test('tools are found on PATH only when executable', async (t) => {
  const a = mkdtempSync(join(tmpdir(), 'weft-path-a-'));
  const b = mkdtempSync(join(tmpdir(), 'weft-path-b-'));
  t.teardown(() => { rmSync(a, { recursive: true }); rmSync(b, { recursive: true }); });
  writeFileSync(join(a, 'iptables-save'), '#!/bin/sh\n');
  chmodSync(join(a, 'iptables-save'), 0o644);
  writeFileSync(join(b, 'iptables-save'), '#!/bin/sh\n');
  chmodSync(join(b, 'iptables-save'), 0o755);
  t.equal(findOnPath('iptables-save', [a, b].join(delimiter)), join(b, 'iptables-save'), 'skips the non-executable one');
  t.equal(findOnPath('iptables-restore', [a, b].join(delimiter)), undefined);
  t.equal(findOnPath('iptables-save', undefined), undefined);
  t.equal(findOnPath('iptables-save', `${delimiter}${b}`), join(b, 'iptables-save'), 'empty entries are ignored');
});
