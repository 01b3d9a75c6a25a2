import t from 'tap';
import { ALLOW_ALL, egressAllows, parseEgressPolicy, type EgressPolicy } from '../../../mesh/egress-policy.js';

t.test('allow mode lets everything through', async (t) => {
  t.ok(egressAllows(ALLOW_ALL, 'anything.example', '192.0.2.1'));
  t.ok(egressAllows(ALLOW_ALL, undefined, undefined));
});

t.test('registry-only matches exact names, *.suffix wildcards, IPs and CIDRs of both families', async (t) => {
  const p = parseEgressPolicy('registry-only', ['Api.Example.com', '*.svc.partner.io', '192.0.2.10', '198.51.100.0/24', 'fd00:1::/64', '2001:db8::7'], 'X');
  if (Array.isArray(p)) throw new Error(p.join('; '));
  t.ok(egressAllows(p, 'api.example.com', undefined), 'exact, case-insensitive');
  t.ok(egressAllows(p, 'api.example.com.', undefined), 'trailing dot');
  t.notOk(egressAllows(p, 'www.api.example.com', undefined), 'an exact name covers no subdomain');
  t.ok(egressAllows(p, 'a.svc.partner.io', undefined));
  t.ok(egressAllows(p, 'a.b.svc.partner.io', undefined));
  t.notOk(egressAllows(p, 'svc.partner.io', undefined), 'the wildcard is below the name only');
  t.notOk(egressAllows(p, 'evilsvc.partner.io', undefined), 'a suffix match is on a label boundary');
  t.ok(egressAllows(p, undefined, '192.0.2.10'));
  t.ok(egressAllows(p, undefined, '::ffff:192.0.2.10'), 'v4-mapped');
  t.notOk(egressAllows(p, undefined, '192.0.2.11'));
  t.ok(egressAllows(p, undefined, '198.51.100.255'));
  t.ok(egressAllows(p, undefined, 'fd00:1::abcd'));
  t.notOk(egressAllows(p, undefined, 'fd00:2::1'));
  t.ok(egressAllows(p, undefined, '2001:db8::7'));
  t.notOk(egressAllows(p, 'unlisted.example', '203.0.113.1'));
});

t.test('every bad entry and a bad mode are listed at once', async (t) => {
  const problems = parseEgressPolicy('closed', ['ok.example', 'bad_name!', '10.0.0.0/33', '300.1.1.1/8', '*.', 'fd00::/129'], 'WEFT_EGRESS_ALLOW');
  t.ok(Array.isArray(problems));
  const list = problems as string[];
  t.equal(list.length, 6, list.join('\n'));
  t.match(list[0], /mode "closed" is not one of allow, registry-only/);
  t.match(list.join('\n'), /"bad_name!" is not a host name, \*\.suffix, IP address or CIDR/);
  t.match(list.join('\n'), /"10\.0\.0\.0\/33" is not a CIDR: prefix must be 0-32/);
  t.match(list.join('\n'), /"300\.1\.1\.1\/8" is not a CIDR/);
  t.match(list.join('\n'), /"fd00::\/129" is not a CIDR: prefix must be 0-128/);
});

t.test('a parsed policy keeps its entries as written', async (t) => {
  const p = parseEgressPolicy('registry-only', ['a.example', '10.0.0.0/8'], 'X') as EgressPolicy;
  t.same(p.entries, ['a.example', '10.0.0.0/8']);
  t.equal(p.mode, 'registry-only');
});
