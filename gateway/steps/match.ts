// The first steps of a request: read the host, check the TLS name and client certificate, and
// find the route (with its policies, the client address and the headers to send upstream).
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { CONTINUE, refusal, type Step, type StepResult } from '../chain.js';
import { stateOf, type Exchange } from '../exchange.js';
import { clientIp, type Cidr } from '../policies/cidr.js';
import { firstValue } from '../policies/policy.js';
import { endToEndHeaders } from '../../mesh/headers.js';
import { normalizeHost } from '../routes/hostnames.js';
import { authorityPort } from '../routes/listener-scope.js';

/** Refuses a request before any configuration or without a host; notes the host otherwise. */
export function readHost(x: Exchange): StepResult {
  if (!x.state) return refusal('WEFT_ERR_NOT_READY', 'the gateway has no route configuration yet');
  if (!x.authority) return refusal('WEFT_ERR_BAD_REQUEST', 'no Host or :authority');
  x.host = normalizeHost(x.authority);
  const headers = x.req.headers;
  x.upstreamHost = firstValue(headers[':authority']) ?? firstValue(headers.host) ?? x.host;
  return CONTINUE;
}

/** On the HTTPS socket: the Host must be served by the certificate the SNI chose, and a listener with a client CA needs a client certificate from it. */
export function checkTls(clock: () => number): Step<Exchange> {
  return (x) => {
    if (x.protocol !== 'HTTPS') return CONTINUE;
    const table = stateOf(x).table;
    const socket = x.req.socket as TLSSocket;
    const sni = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : undefined;
    const cert = table.certificateFor(sni ?? x.host);
    if (sni && sni !== x.host && table.certificateFor(x.host) !== cert) {
      return refusal('WEFT_ERR_MISDIRECTED', `the connection was opened for ${sni}, not ${x.host}`);
    }
    if (cert?.clientCaPem && !clientCertTrusted(socket, cert.clientCaPem, clock())) {
      return refusal('WEFT_ERR_CLIENT_CERT', `${cert.label} needs a client certificate from its trusted CA`);
    }
    return CONTINUE;
  };
}

/** Looks the request up in the route table; notes the rule, its policies, the client and the upstream headers. */
export function matchRoute(trustedProxies: readonly Cidr[]): Step<Exchange> {
  return (x) => {
    const state = stateOf(x);
    const req = x.req;
    const port = authorityPort(x.authority);
    const decision = state.table.lookup(x.protocol, { host: x.host, port, path: x.path, method: req.method ?? 'GET', headers: req.headers, query: x.query }, x.scope);
    if (decision.kind === 'no-route') return refusal('WEFT_ERR_NO_ROUTE', `no route for ${x.host}${x.path}`);
    x.match = decision;
    x.route = decision.rule.route.label;
    x.policies = state.policies.effective(decision.listener.gateway, decision.rule.route);
    x.client = clientIp(req.socket?.remoteAddress ?? '', firstValue(req.headers['x-forwarded-for']), trustedProxies);
    x.headers = endToEndHeaders(req.headers);
    return CONTINUE;
  };
}

/** Checks the TLS peer's certificate chains to one of the PEM CAs and is within its validity. */
export function clientCertTrusted(socket: TLSSocket, caPem: string, nowMs: number): boolean {
  const peer = socket.getPeerCertificate?.(true);
  if (!peer || !peer.raw) return false;
  const cas = caPem
    .split(/(?=-----BEGIN CERTIFICATE-----)/)
    .filter((p) => p.includes('BEGIN CERTIFICATE'))
    .map((p) => new X509Certificate(p));
  let cur = new X509Certificate(peer.raw);
  let next: typeof peer | undefined = peer;
  for (let depth = 0; depth < 6; depth++) {
    if (Date.parse(cur.validFrom) > nowMs || Date.parse(cur.validTo) < nowMs) return false;
    if (cas.some((ca) => cur.checkIssued(ca) && cur.verify(ca.publicKey))) return true;
    const issuer: typeof peer | undefined = next?.issuerCertificate;
    if (!issuer || !issuer.raw || issuer === next) return false;
    const issuerCert = new X509Certificate(issuer.raw);
    if (!cur.checkIssued(issuerCert) || !cur.verify(issuerCert.publicKey)) return false;
    cur = issuerCert;
    next = issuer;
  }
  return false;
}
