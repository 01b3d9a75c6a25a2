// A port-forward to one pod through the API server (pods/portforward over WebSocket, channel
// protocol v4.channel.k8s.io), as a Duplex stream an HTTP client can run over. A forwarded
// connection arrives on the pod's loopback, which is what the proxy's tap answers; the API server
// authorises it with RBAC (`create pods/portforward`).
import http from 'node:http';
import { Duplex } from 'node:stream';
import { Agent, WebSocket } from 'undici';
import { WeftError } from '../../lib/errors.js';
import type { KubeConnection } from '../../lib/kube/config.js';
import type { Timers } from '../../lib/timers.js';

/** The WebSocket subprotocol of Kubernetes' port-forward: one data and one error channel per port. */
export const PORT_FORWARD_PROTOCOL = 'v4.channel.k8s.io';

/** What one port-forward frame carries (pure): its channel and its bytes. */
export function parseFrame(frame: Buffer): { channel: number; data: Buffer } {
  return { channel: frame[0] ?? -1, data: frame.subarray(1) };
}

/**
 * Opens a forward to `port` of `namespace/pod`; resolves once the API server accepted it (the
 * WebSocket is open) or throws WEFT_ERR_ADMIN_UNREACHABLE within `timeoutMs`.
 */
export async function portForward(conn: KubeConnection, namespace: string, pod: string, port: number, timeoutMs: number, timers: Timers): Promise<Duplex> {
  const auth = await conn.authorization();
  const url = `${conn.server.replace(/^http/, 'ws')}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward?ports=${port}`;
  const dispatcher = new Agent({
    connect: {
      ...(conn.caPem ? { ca: conn.caPem } : {}),
      ...(conn.clientCertPem ? { cert: conn.clientCertPem } : {}),
      ...(conn.clientKeyPem ? { key: conn.clientKeyPem } : {}),
      ...(conn.serverName ? { servername: conn.serverName } : {}),
      rejectUnauthorized: !conn.skipTlsVerify,
    },
  });
  const ws = new WebSocket(url, { protocols: [PORT_FORWARD_PROTOCOL], dispatcher, headers: auth ? { authorization: auth } : {} });
  ws.binaryType = 'arraybuffer';
  const what = `port-forward to pod ${namespace}/${pod} port ${port}`;
  // The first frame on each channel is the port number the server forwards, not data.
  const portSeen = new Set<number>();
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      ws.send(Buffer.concat([Buffer.from([0]), chunk]));
      callback();
    },
    destroy(err, callback) {
      ws.close();
      dispatcher.close().catch(() => undefined);
      callback(err);
    },
  });
  ws.addEventListener('message', (ev) => {
    const { channel, data } = parseFrame(Buffer.from(ev.data as ArrayBuffer));
    if (!portSeen.has(channel)) {
      portSeen.add(channel);
      return;
    }
    if (channel === 0) stream.push(data);
    else if (channel === 1 && data.length > 0) stream.destroy(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${what}: ${data.toString('utf8')}`));
  });
  ws.addEventListener('close', () => stream.push(null));
  await new Promise<void>((resolve, reject) => {
    const timer = timers.setTimeout(() => {
      ws.close();
      reject(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${what}: not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.addEventListener('open', () => {
      timers.clearTimeout(timer);
      resolve();
    });
    ws.addEventListener('error', () => {
      timers.clearTimeout(timer);
      dispatcher.close().catch(() => undefined);
      // The WebSocket API hides the HTTP answer; a refusal is most often RBAC.
      reject(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${what}: the API server refused or failed the upgrade (the user needs create on pods/portforward)`));
    });
  });
  return stream;
}

/** GETs `path` over an open forward (one request, then the forward is closed); 200 or a coded error. */
export function getOver(stream: Duplex, what: string, path: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: 'localhost', path, createConnection: () => stream, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        stream.destroy();
        if (res.statusCode === 200) resolve(body);
        else reject(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${what}${path} answered ${res.statusCode}: ${body.trim()}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (err) => {
      stream.destroy();
      reject(new WeftError('WEFT_ERR_ADMIN_UNREACHABLE', `${what}${path}: ${err.message}`));
    });
  });
}
