// The "hello" workload of the authorization e2e tests (local and Kubernetes mode) and the clients
// that reach it: a TCP echo as its database on 5432, a gRPC Echo on 9090 that reports the caller
// identity its sidecar forwarded, a unary call through a client's sidecar, and opaque TCP straight
// to hello's inbound mTLS port with a given certificate.
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The echo.proto message. */
export interface EchoMsg {
  text: string;
  pod: string;
  caller: string;
}

type EchoClient = grpc.Client & { Unary(m: Partial<EchoMsg>, cb: (err: grpc.ServiceError | null, r?: EchoMsg) => void): void };

/** test/fixtures/echo.proto, loaded. */
export function echoPackage(): { weft: { test: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } } } {
  return grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url)))) as unknown as {
    weft: { test: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } } };
  };
}

/** Starts hello's database (TCP echo on 5432) and gRPC Echo (9090) on `address`. */
export async function startAuthzWorkload(address: string, podName: string): Promise<{ close: () => void }> {
  const db = net.createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => db.listen(5432, address, () => resolve()));
  const server = new grpc.Server();
  server.addService(echoPackage().weft.test.Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) =>
      cb(null, { text: call.request.text, pod: podName, caller: String(call.metadata.get('weft-client-id')[0] ?? '') }),
    Chat: (call: grpc.ServerDuplexStream<EchoMsg, EchoMsg>) => call.end(),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`${address}:9090`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return {
    close: () => {
      db.close();
      server.forceShutdown();
    },
  };
}

/** One Unary call through the client sidecar's gRPC upstream port (9001 here). */
export function grpcUnaryVia(sidecarAddress: string): Promise<{ code: number; details: string; caller: string }> {
  const c = new (echoPackage().weft.test.Echo)(`${sidecarAddress}:9001`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  return new Promise((resolve) =>
    c.Unary({ text: 'ping' }, (err, reply) => {
      c.close();
      resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? '', caller: reply?.caller ?? '' });
    }),
  );
}

/** Opens opaque TCP to `host`'s port 5432 through its inbound port 7006 (mTLS, ALPN weft-tcp) with `material`, and returns what echoed back. */
export function tcpToDatabase(host: string, material: { key: string; cert: string; ca: string }): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port: 7006, key: material.key, cert: material.cert, ca: material.ca, ALPNProtocols: ['weft-tcp'], checkServerIdentity: () => undefined });
    let echoed = '';
    socket.on('secureConnect', () => socket.write('WEFT-TCP 5432\nhello db'));
    socket.on('data', (d: Buffer) => {
      echoed += d.toString();
      if (echoed === 'hello db') socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(echoed));
    setTimeout(() => socket.destroy(), 5000).unref();
  });
}

/** An AuthorizationPolicy selecting app=hello. */
export function helloPolicy(namespace: string, name: string, action: string, rules: unknown[]): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: unknown } {
  return { apiVersion: 'policy.weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec: { selector: { matchLabels: { app: 'hello' } }, action, rules } };
}

/** The rules both authorization e2e tests start from: /admin for client, /public/* for anyone, GET /items for anyone, POST /items and the gRPC and database ports for client. */
export const HELLO_RULES: readonly unknown[] = [
  { from: { serviceAccounts: ['client'] }, to: { paths: ['/admin', '/admin/*'] } },
  { to: { ports: [8080], paths: ['/public/*'] } },
  { to: { ports: [8080], methods: ['GET'], paths: ['/items', '/items/*'] } },
  { from: { serviceAccounts: ['client'] }, to: { ports: [8080], methods: ['POST'], paths: ['/items'] } },
  { from: { serviceAccounts: ['client'] }, to: { ports: [9090, 5432] } },
];
