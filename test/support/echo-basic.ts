// An echo backend that answers like the Gateway API conformance suite's echo-basic: a JSON body in
// the shape of upstream's roundtripper.CapturedRequest (path, host, method, proto, headers,
// namespace, pod, httpPort), the `X-Echo-Set-Header` response headers, the `delay` query and the
// WebSocket echo on /ws.
import http from 'node:http';
import http2 from 'node:http2';
import { WebSocketServer } from 'ws';

/** One request an echo backend received (what the mirror checks look for). */
export interface EchoSeen {
  readonly namespace: string;
  readonly service: string;
  readonly pod: string;
  readonly path: string;
}

/** Where an echo pod runs and what it says it is. */
export interface EchoBasicPod {
  readonly namespace: string;
  readonly service: string;
  readonly pod: string;
  readonly address: string;
  /** HTTP/1.1 port (the Services' targetPort 3000). */
  readonly port: number;
  /** Cleartext HTTP/2 (prior knowledge) port, or undefined for none (targetPort 3001). */
  readonly h2cPort?: number;
}

/** Go's time.ParseDuration for the simple values the suite sends ("1s", "500ms"). */
function delayMs(path: string): number {
  const m = /[?&]delay=(\d+(?:\.\d+)?)(ms|s|m)\b/.exec(path);
  if (!m) return 0;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

/** Go's textproto canonical header name: x-foo-bar -> X-Foo-Bar. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}

function answer(pod: EchoBasicPod, seen: EchoSeen[], req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse, proto: string, port: number): void {
  const path = req.url ?? '/';
  const headers: Record<string, string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (name.startsWith(':') || name.toLowerCase() === 'host') continue;
    (headers[canonical(name)] ??= []).push(raw[i + 1] ?? '');
  }
  const host = req.headers[':authority'] ?? req.headers.host ?? '';
  seen.push({ namespace: pod.namespace, service: pod.service, pod: pod.pod, path });
  const body = JSON.stringify({ path, host, method: req.method, proto, headers, namespace: pod.namespace, pod: pod.pod, httpPort: String(port) });
  const out: Record<string, string> = { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' };
  for (const pair of (headers['X-Echo-Set-Header'] ?? []).join(',').split(',')) {
    const at = pair.indexOf(':');
    if (at > 0) out[pair.slice(0, at).trim().toLowerCase()] = pair.slice(at + 1).trim();
  }
  const send = (): void => {
    res.writeHead(200, out);
    res.end(body);
  };
  req.on('data', () => undefined);
  req.on('end', () => {
    const ms = delayMs(path);
    if (ms > 0) setTimeout(send, ms);
    else send();
  });
}

/** A running echo pod; close() stops its servers. */
export interface EchoBasicServer {
  close(): Promise<void>;
}

/** Starts the pod's HTTP/1.1 server (and its h2c server) and resolves once they listen. */
export async function startEchoBasic(pod: EchoBasicPod, seen: EchoSeen[]): Promise<EchoBasicServer> {
  const h1 = http.createServer((req, res) => answer(pod, seen, req, res, `HTTP/${req.httpVersion}`, pod.port));
  h1.keepAliveTimeout = 80_000;
  // echo-basic's /ws: every message comes back as sent (text as text, binary as binary).
  const wss = new WebSocketServer({ noServer: true });
  h1.on('upgrade', (req, socket, head) => {
    if ((req.url ?? '').split('?')[0] !== '/ws') return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m: Buffer, isBinary: boolean) => ws.send(m, { binary: isBinary })));
  });
  h1.on('close', () => wss.close());
  await new Promise<void>((resolve, reject) => {
    h1.once('error', reject);
    h1.listen(pod.port, pod.address, () => resolve());
  });
  let h2: http2.Http2Server | undefined;
  if (pod.h2cPort !== undefined) {
    const port = pod.h2cPort;
    h2 = http2.createServer((req, res) => answer(pod, seen, req, res, 'HTTP/2.0', port));
    const server = h2;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, pod.address, () => resolve());
    });
  }
  return {
    close: async () => {
      h1.closeAllConnections();
      await new Promise((r) => h1.close(r));
      if (h2) await new Promise((r) => h2.close(r));
    },
  };
}
