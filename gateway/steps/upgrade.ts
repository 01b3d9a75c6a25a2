// Forwards an HTTP/1.1 upgrade (WebSocket) that passed every step: the request goes to the
// picked endpoint's sidecar over mutual TLS with its Connection/Upgrade kept; on 101 the client's
// socket and the mesh connection are joined byte for byte, any other answer is relayed as is.
import type { OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { cancelled, failed, succeeded } from '../../mesh/balance/picker.js';
import { classify } from '../../mesh/rescue.js';
import { endToEndHeaders } from '../../mesh/headers.js';
import { HANDED_OVER, refusal, type StepResult } from '../chain.js';
import type { Exchange } from '../exchange.js';
import type { Timers } from '../../lib/timers.js';
import type { PeerPool } from '../../mesh/peer-pool.js';
import type { Refusal } from '../chain.js';
import type { UpgradeSocket } from '../exchange.js';
import { firstValue } from '../policies/policy.js';
import { openMeshRequest } from '../upstream.js';

/** What an upgrade needs of the forward step's dependencies. */
export interface UpgradeDeps {
  readonly timers: Timers;
  readonly pool: PeerPool;
  readonly respondError: (x: Exchange, r: Refusal) => void;
}

/** Sends the upgrade (forwarding headers already set) to the endpoint and hands the exchange over to the joined sockets. */
export function forwardUpgrade(deps: UpgradeDeps, x: Exchange, up: UpgradeSocket): StepResult {
  const entry = x.entry;
  if (!entry) throw new Error('an upgrade was forwarded before an endpoint was picked');
  const { req, res } = x;
  // The one exchange where Connection and Upgrade cross: they are the request.
  x.headers.connection = 'upgrade';
  x.headers.upgrade = firstValue(req.headers.upgrade) ?? 'websocket';
  const started = deps.timers.now();
  const upReq = openMeshRequest(deps.pool, entry.endpoint, { method: req.method ?? 'GET', path: x.upstreamPath + x.upstreamSearch, headers: x.headers }, x.target?.ref);
  up.socket.on('error', () => upReq.destroy());
  upReq.on('upgrade', (upRes, upSocket, upHead) => {
    // From here the bytes are the application's: the response object lets go of the socket.
    if ('detachSocket' in res) res.detachSocket(up.socket as Socket);
    const lines = [`HTTP/1.1 ${upRes.statusCode ?? 101} ${upRes.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i + 1 < upRes.rawHeaders.length; i += 2) lines.push(`${upRes.rawHeaders[i] ?? ''}: ${upRes.rawHeaders[i + 1] ?? ''}`);
    up.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    x.backend = x.target?.label ?? x.backend;
    if (upHead.length > 0) up.socket.write(upHead);
    if (up.head.length > 0) upSocket.write(up.head);
    upSocket.pipe(up.socket);
    up.socket.pipe(upSocket);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      upSocket.destroy();
      up.socket.destroy();
      entry.release(succeeded(deps.timers.now() - started, 101));
      // The handler's bookkeeping (drain count, access log) waits for the response's close.
      res.emit('close');
    };
    upSocket.on('close', close);
    up.socket.on('close', close);
    upSocket.on('error', close);
  });
  upReq.on('response', (ures) => {
    // The backend did not switch protocols: its answer is relayed and the connection closed.
    const status = ures.statusCode ?? 502;
    res.writeHead(status, endToEndHeaders(ures.headers) as OutgoingHttpHeaders);
    ures.pipe(res);
    ures.on('end', () => entry.release(succeeded(deps.timers.now() - started, status)));
  });
  upReq.on('error', (e) => {
    const error = classify(e, 'connect', { what: `${x.target?.label ?? '-'} at ${entry.endpoint.address}:${entry.endpoint.port}`, unreachable: 'WEFT_ERR_CONNECT' });
    entry.release(res.headersSent ? cancelled() : failed(error.code, deps.timers.now() - started));
    if (!res.headersSent) deps.respondError(x, refusal(error.code, error.message));
  });
  upReq.end();
  return HANDED_OVER;
}
