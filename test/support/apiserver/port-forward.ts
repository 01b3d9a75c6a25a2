// pods/portforward over WebSocket (subprotocol v4.channel.k8s.io) as the API server and kubelet
// serve it: the user is authorised for `create pods/portforward` (what Kubernetes 1.31 and later
// check for the WebSocket GET), then the port is dialled on the pod's own address, standing in for
// the kubelet's dial of localhost inside the pod. Frames carry a channel byte: 0 data, 1 error;
// the first frame of each channel is the port number (2 bytes, little-endian).
import { connect } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { StatusError } from './resources.js';

const PROTOCOL = 'v4.channel.k8s.io';
const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has(PROTOCOL) ? PROTOCOL : false) });

/** The path of a port-forward request, or undefined for any other path. */
export function portForwardPath(url: URL): { namespace: string; pod: string; port: number } | undefined {
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
  const port = Number(url.searchParams.get('ports'));
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { namespace: decodeURIComponent(m[1] ?? ''), pod: decodeURIComponent(m[2] ?? ''), port };
}

/** Upgrades and forwards to `ip:port`, or answers the StatusError thrown before the upgrade. */
export function servePortForward(req: IncomingMessage, socket: Duplex, head: Buffer, ip: string, port: number): void {
  wss.handleUpgrade(req, socket, head, (ws) => {
    const portBytes = Buffer.from([port & 0xff, port >> 8]);
    ws.send(Buffer.concat([Buffer.from([0]), portBytes]));
    ws.send(Buffer.concat([Buffer.from([1]), portBytes]));
    const tcp = connect({ host: ip, port });
    tcp.on('data', (d: Buffer) => ws.send(Buffer.concat([Buffer.from([0]), d])));
    tcp.on('end', () => ws.close());
    tcp.on('error', (err) => {
      ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(`error forwarding port ${port} to pod: ${err.message}`)]));
      ws.close();
    });
    ws.on('message', (data: Buffer) => {
      if (data[0] === 0) tcp.write(data.subarray(1));
    });
    ws.on('close', () => tcp.destroy());
  });
}

/** Answers an upgrade request with a Status, as the API server refuses before upgrading. */
export function refuseUpgrade(socket: Duplex, err: unknown): void {
  const status = err instanceof StatusError ? err.status : new StatusError(500, 'InternalError', String(err)).status;
  const body = JSON.stringify(status);
  socket.end(`HTTP/1.1 ${status.code} ${status.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
