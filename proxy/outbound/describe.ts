// What the outbound server writes on an exchange once it knows where the request goes, and the
// one rewrite of a proxy-style absolute request line to origin form.
import type { IncomingMessage } from 'node:http';
import { serviceKey, type Endpoint } from '../../mesh/discovery/endpoint-source.js';
import type { Exchange } from '../exchange.js';
import type { Target } from './router.js';

/** An absolute-form request line (`GET http://host/path`) becomes origin form with its Host. */
export function absoluteToOrigin(req: IncomingMessage): void {
  const url = req.url ?? '';
  if (!url.startsWith('http://')) return;
  try {
    const parsed = new URL(url);
    req.url = `${parsed.pathname}${parsed.search}`;
    req.headers.host = parsed.host;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if ((req.rawHeaders[i] ?? '').toLowerCase() === 'host') req.rawHeaders[i + 1] = parsed.host;
    }
  } catch {
    // Not a URL after all: leave it for the route step to refuse.
  }
}

// Names the destination on the exchange once it is known; returns the endpoint to forward to.
export function describe(exchange: Exchange, target: Target & { kind: 'mesh' }): Endpoint {
  const { endpoint } = target.pick;
  exchange.service = serviceKey(target.service);
  exchange.route = target.rule?.label ?? '';
  exchange.peer = endpoint.identity;
  exchange.endpoint = `${endpoint.address}:${endpoint.port}`;
  return endpoint;
}

// A passthrough has no service and no peer: the access log and metrics say why it left the mesh.
export function describePassthrough(exchange: Exchange, target: Target & { kind: 'passthrough' }): Endpoint {
  exchange.service = 'passthrough';
  exchange.reason = target.reason;
  exchange.endpoint = target.address.includes(':') ? `[${target.address}]:${target.port}` : `${target.address}:${target.port}`;
  return { address: target.address, port: target.port, identity: '', ready: true };
}
