// Backends for the gateway's HTTP/2 tests, started in place of the HTTP echo (GatewayMesh's
// AppStarter): a grpc-js Echo server (test/fixtures/echo.proto) and a plain cleartext HTTP/2 echo.
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { AppStarter } from './gateway-mesh.js';

/** The fixture's message. */
export interface EchoMsg {
  text: string;
  pod: string;
  caller: string;
}

/** The Echo service's client, as the tests call it. */
export type EchoClient = grpc.Client & {
  Unary(m: Partial<EchoMsg>, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: EchoMsg) => void): grpc.ClientUnaryCall;
  Stream(m: Partial<EchoMsg>, md: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<EchoMsg>;
  Chat(md: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<Partial<EchoMsg>, EchoMsg>;
};

type EchoCtor = grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition };

/** The Echo service of test/fixtures/echo.proto. */
export function echoService(): EchoCtor {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url)))) as unknown as { weft: { test: { Echo: EchoCtor } } };
  return pkg.weft.test.Echo;
}

/**
 * A grpc-js Echo server: Unary answers the text, the pod and the request's `x-caller` metadata
 * (and sends `x-pod` as response metadata and `x-done` as trailing metadata); a text "slow:N"
 * answers after N ms; Stream answers three messages; Chat echoes each message.
 */
export const grpcEcho: AppStarter = async (pod) => {
  const server = new grpc.Server();
  server.addService(echoService().service, {
    Unary: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => {
      const md = new grpc.Metadata();
      md.set('x-pod', pod.name);
      call.sendMetadata(md);
      const trailer = new grpc.Metadata();
      trailer.set('x-done', 'yes');
      const caller = String(call.metadata.get('x-caller')[0] ?? '');
      const slow = /^slow:(\d+)$/.exec(call.request.text);
      const answer = (): void => cb(null, { text: call.request.text, pod: pod.name, caller }, trailer);
      if (slow) setTimeout(answer, Number(slow[1]));
      else answer();
    },
    Stream: (call: grpc.ServerWritableStream<EchoMsg, EchoMsg>) => {
      for (let i = 0; i < 3; i++) call.write({ text: `${call.request.text} ${i}`, pod: pod.name, caller: '' });
      call.end();
    },
    Chat: (call: grpc.ServerDuplexStream<EchoMsg, EchoMsg>) => {
      call.on('data', (m: EchoMsg) => call.write({ text: `echo ${m.text}`, pod: pod.name, caller: '' }));
      call.on('end', () => call.end());
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`${pod.address}:${pod.port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return { close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()) };
};

/** What the h2c echo saw, as it reports it in its JSON body. */
export interface H2Echoed {
  readonly pod: string;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly httpVersion: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bodyBytes: number;
}

/**
 * A cleartext HTTP/2 (prior knowledge only) echo: answers a JSON H2Echoed after `?sleepMs=N`
 * and sends trailer `x-echo-trailer`; it never looks at grpc-timeout.
 */
export const h2cEcho: AppStarter = async (pod) => {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    let bodyBytes = 0;
    stream.on('data', (c: Buffer) => (bodyBytes += c.length));
    stream.on('end', () => {
      const path = String(headers[':path'] ?? '/');
      const body: H2Echoed = { pod: pod.name, method: String(headers[':method']), path, authority: String(headers[':authority']), httpVersion: '2.0', headers, bodyBytes };
      const send = (): void => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-echo-pod': pod.name }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-echo-trailer': 'done' }));
        stream.end(JSON.stringify(body));
      };
      const sleep = /[?&]sleepMs=(\d+)/.exec(path);
      if (sleep) setTimeout(send, Number(sleep[1]));
      else send();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(pod.port, pod.address, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      }),
  };
};
