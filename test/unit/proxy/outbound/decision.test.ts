import t from 'tap';
import { decideOutbound, hostOf, type DecisionContext, type DecisionInput, type OutboundDecision } from '../../../../proxy/outbound/decision.js';
import { ALLOW_ALL, parseEgressPolicy, type EgressPolicy } from '../../../../mesh/egress-policy.js';
import type { AddressInfo } from '../../../../mesh/discovery/endpoint-source.js';

const ORDERS_ID = 'spiffe://cluster.local/ns/shop/sa/orders';
const registry = parseEgressPolicy('registry-only', ['api.example.com', '*.partner.io', '203.0.113.7', '198.51.100.0/24'], 'test') as EgressPolicy;
const ctx = (egress: EgressPolicy = ALLOW_ALL): DecisionContext => ({
  names: { namespace: 'shop', clusterDomain: 'cluster.local' },
  egress,
  selfAddresses: new Set(['10.0.0.2', '127.0.0.1']),
  selfPorts: new Set([7001, 7006, 7020]),
});
const unknown: AddressInfo = { kind: 'unknown' };
const clusterIp: AddressInfo = { kind: 'service', service: { namespace: 'shop', name: 'db', port: 5432 } };
const meshedPod: AddressInfo = { kind: 'pod', owner: { identity: ORDERS_ID, podName: 'orders-0', meshed: true, service: { namespace: 'shop', name: 'orders', port: 80 } } };
const localPod: AddressInfo = { kind: 'pod', owner: { identity: ORDERS_ID } };
const plainPod: AddressInfo = { kind: 'pod', owner: { identity: '', meshed: false } };

interface Case {
  readonly name: string;
  readonly input: DecisionInput;
  readonly egress?: EgressPolicy;
  readonly want: Partial<OutboundDecision> & { kind: OutboundDecision['kind'] };
}

const cases: readonly Case[] = [
  // Mesh service by name, captured or not, whatever the original destination.
  { name: 'a Host naming a service goes to that service', input: { original: { address: '10.96.0.9', port: 80 }, authority: 'orders', known: unknown }, want: { kind: 'service', ref: { namespace: 'shop', name: 'orders', port: 80 } } },
  { name: 'an uncaptured request by service name (weft up)', input: { original: undefined, authority: 'orders.shop.svc.cluster.local:8080', known: unknown }, want: { kind: 'service', ref: { namespace: 'shop', name: 'orders', port: 8080 } } },
  // Service by ClusterIP.
  { name: 'opaque TCP to a ClusterIP goes to that service', input: { original: { address: '10.96.0.5', port: 5432 }, authority: undefined, known: clusterIp }, want: { kind: 'service', ref: { namespace: 'shop', name: 'db', port: 5432 } } },
  { name: 'an HTTP name that is no service, dialled at a ClusterIP, goes to that service', input: { original: { address: '10.96.0.5', port: 5432 }, authority: 'db.example.com', nameAbsent: true, known: clusterIp }, want: { kind: 'service' } },
  // Meshed pod by IP.
  { name: 'opaque TCP to a meshed pod IP goes to that pod', input: { original: { address: '10.0.0.3', port: 7777 }, authority: undefined, known: meshedPod }, want: { kind: 'pod', address: '10.0.0.3', port: 7777 } },
  { name: 'a pod whose meshed flag is unknown counts as meshed (local mode)', input: { original: { address: '10.0.0.3', port: 8080 }, authority: '10.0.0.3:8080', known: localPod }, want: { kind: 'pod', address: '10.0.0.3', port: 8080 } },
  { name: 'an uncaptured IP Host of a meshed pod goes to that pod', input: { original: undefined, authority: '10.0.0.3:8080', known: meshedPod }, want: { kind: 'pod', address: '10.0.0.3', port: 8080 } },
  // Passthrough.
  { name: 'a pod without a sidecar is passed through', input: { original: { address: '10.0.0.9', port: 8080 }, authority: '10.0.0.9:8080', known: plainPod }, want: { kind: 'passthrough', address: '10.0.0.9', port: 8080, reason: 'no-sidecar' } },
  { name: 'an outside IP is passed through in allow mode', input: { original: { address: '203.0.113.50', port: 80 }, authority: '203.0.113.50', known: unknown }, want: { kind: 'passthrough', address: '203.0.113.50', port: 80, reason: 'outside-cluster' } },
  { name: 'an outside name (not service-shaped) is passed through to the original destination', input: { original: { address: '203.0.113.50', port: 80 }, authority: 'www.example.org', known: unknown }, want: { kind: 'passthrough', address: '203.0.113.50', reason: 'outside-cluster' } },
  { name: 'a service-shaped name discovery does not know is passed through', input: { original: { address: '203.0.113.50', port: 80 }, authority: 'example.com', nameAbsent: true, known: unknown }, want: { kind: 'passthrough', reason: 'outside-cluster' } },
  { name: 'opaque TCP (HTTPS) to an outside address is passed through', input: { original: { address: '203.0.113.50', port: 443 }, authority: undefined, sni: 'www.example.org', known: unknown }, want: { kind: 'passthrough', port: 443, reason: 'outside-cluster' } },
  // Egress registry-only.
  { name: 'registry-only: a listed host passes', egress: registry, input: { original: { address: '203.0.113.50', port: 80 }, authority: 'api.example.com', known: unknown }, want: { kind: 'passthrough', reason: 'egress-allowed' } },
  { name: 'registry-only: a listed host with a port and trailing dot passes', egress: registry, input: { original: { address: '203.0.113.50', port: 8080 }, authority: 'API.example.com.:8080', known: unknown }, want: { kind: 'passthrough', reason: 'egress-allowed' } },
  { name: 'registry-only: a name below a listed wildcard passes', egress: registry, input: { original: { address: '203.0.113.50', port: 443 }, authority: undefined, sni: 'eu.api.partner.io', known: unknown }, want: { kind: 'passthrough', reason: 'egress-allowed' } },
  { name: 'registry-only: the wildcard does not cover the bare name', egress: registry, input: { original: { address: '203.0.113.50', port: 443 }, authority: undefined, sni: 'partner.io', known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_EGRESS_DENIED' } },
  { name: 'registry-only: a listed IP passes', egress: registry, input: { original: { address: '203.0.113.7', port: 5432 }, authority: undefined, known: unknown }, want: { kind: 'passthrough', reason: 'egress-allowed' } },
  { name: 'registry-only: an address in a listed CIDR passes', egress: registry, input: { original: { address: '198.51.100.200', port: 80 }, authority: '198.51.100.200', known: unknown }, want: { kind: 'passthrough', reason: 'egress-allowed' } },
  { name: 'registry-only: an unlisted host is refused', egress: registry, input: { original: { address: '203.0.113.50', port: 80 }, authority: 'evil.example.net', known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_EGRESS_DENIED' } },
  { name: 'registry-only: an unlisted IP without a name is refused', egress: registry, input: { original: { address: '192.0.2.1', port: 22 }, authority: undefined, known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_EGRESS_DENIED' } },
  { name: 'registry-only: a listed Host passes whatever address it was dialled at (names are matched on the Host, as documented)', egress: registry, input: { original: { address: '192.0.2.1', port: 80 }, authority: 'api.example.com', known: unknown }, want: { kind: 'passthrough', reason: 'egress-allowed' } },
  { name: 'registry-only: in-cluster pods without a sidecar are not egress', egress: registry, input: { original: { address: '10.0.0.9', port: 8080 }, authority: undefined, known: plainPod }, want: { kind: 'passthrough', reason: 'no-sidecar' } },
  { name: 'registry-only: mesh services are not egress', egress: registry, input: { original: { address: '10.96.0.9', port: 80 }, authority: 'orders', known: unknown }, want: { kind: 'service' } },
  // Loops and the proxy itself.
  { name: "the proxy's own inbound port on the pod IP is refused as a loop", input: { original: { address: '10.0.0.2', port: 7006 }, authority: undefined, known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_LOOP' } },
  { name: 'the outbound port on loopback is refused as a loop, whatever the Host', input: { original: { address: '127.0.0.1', port: 7001 }, authority: 'orders', known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_LOOP' } },
  { name: 'the pod IP on an app port is no loop', input: { original: { address: '10.0.0.2', port: 8080 }, authority: undefined, known: unknown }, want: { kind: 'passthrough' } },
  // Not captured: the old answers.
  { name: 'uncaptured: no Host is a bad request', input: { original: undefined, authority: undefined, known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_BAD_REQUEST' } },
  { name: 'uncaptured: a Host that is no name is a bad request', input: { original: undefined, authority: 'a..b', known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_BAD_REQUEST' } },
  { name: 'uncaptured: an unknown IP is no service', input: { original: undefined, authority: '203.0.113.50:80', known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_UNKNOWN_SERVICE' } },
  { name: 'uncaptured: a name discovery does not know is no service (no destination to pass to)', input: { original: undefined, authority: 'nope', nameAbsent: true, known: unknown }, want: { kind: 'refused', code: 'WEFT_ERR_UNKNOWN_SERVICE' } },
  { name: 'uncaptured: a pod without a sidecar is not passed through', input: { original: undefined, authority: '10.0.0.9:8080', known: plainPod }, want: { kind: 'refused', code: 'WEFT_ERR_UNKNOWN_SERVICE' } },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.match(decideOutbound(c.input, ctx(c.egress)), c.want);
  });
}

t.test('a refusal says what was refused and why', async (t) => {
  const d = decideOutbound({ original: { address: '203.0.113.50', port: 80 }, authority: 'evil.example.net', known: unknown }, ctx(registry));
  t.match(d, { kind: 'refused', message: /evil\.example\.net \(203\.0\.113\.50:80\) is outside the mesh and not listed/ });
});

t.test('hostOf strips the port, brackets, case and the trailing dot', async (t) => {
  t.equal(hostOf('API.Example.com.:8443'), 'api.example.com');
  t.equal(hostOf('[fd00::1]:80'), 'fd00::1');
  t.equal(hostOf('fd00::1'), 'fd00::1');
  t.equal(hostOf('orders'), 'orders');
});
