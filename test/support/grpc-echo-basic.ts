// The conformance suite's gRPC echo service (GrpcEcho: Echo, EchoTwo, EchoThree answering with
// the method, headers and the pod's namespace and name) and the client call its SendRPC makes,
// on @grpc/grpc-js with test/fixtures/gateway-api/grpcecho.proto.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const PACKAGE = 'gateway_api_conformance.echo_basic.grpcecho';
const METHODS = ['Echo', 'EchoTwo', 'EchoThree'] as const;

/** The EchoResponse as the client receives it. */
export interface EchoResponse {
  readonly assertions?: {
    readonly fullyQualifiedMethod?: string;
    readonly headers?: readonly { key: string; value: string }[];
    readonly context?: { readonly namespace?: string; readonly pod?: string; readonly serviceName?: string };
    readonly authority?: string;
  };
}

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: EchoResponse) => void) => void;
type GrpcEchoCtor = grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition };

function service(): GrpcEchoCtor {
  const def = protoLoader.loadSync(fileURLToPath(new URL('../fixtures/gateway-api/grpcecho.proto', import.meta.url)), { keepCase: false });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { gateway_api_conformance: { echo_basic: { grpcecho: { GrpcEcho: GrpcEchoCtor } } } };
  return pkg.gateway_api_conformance.echo_basic.grpcecho.GrpcEcho;
}

/** Starts a GrpcEcho server (h2c) for one pod; resolves with a stop function. */
export async function startGrpcEcho(pod: { namespace: string; service: string; pod: string; address: string; port: number }): Promise<() => Promise<void>> {
  const server = new grpc.Server();
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const m of METHODS) {
    handlers[m] = (call: grpc.ServerUnaryCall<object, EchoResponse>, cb: grpc.sendUnaryData<EchoResponse>) => {
      const headers = Object.entries(call.metadata.getMap()).map(([key, value]) => ({ key, value: String(value) }));
      cb(null, {
        assertions: {
          fullyQualifiedMethod: `/${PACKAGE}.GrpcEcho/${m}`,
          headers,
          context: { namespace: pod.namespace, pod: pod.pod, serviceName: pod.service },
        },
      });
    };
  }
  server.addService(service().service, handlers);
  await new Promise<void>((resolve, reject) => server.bindAsync(`${pod.address}:${pod.port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return () => new Promise((resolve) => server.tryShutdown(() => resolve()));
}

/** grpc.ExpectedResponse, as extracted. */
export interface GrpcCase {
  readonly EchoRequest?: object;
  readonly EchoTwoRequest?: object;
  readonly EchoThreeRequest?: object;
  readonly RequestMetadata?: { readonly Authority?: string; readonly Metadata?: Readonly<Record<string, string>> };
  readonly Response?: { readonly Code?: number };
  readonly Backend?: string;
  readonly Namespace?: string;
  readonly TestCaseName?: string;
  readonly line: number;
  readonly gateway?: string;
}

/** SendRPC then compareResponse (conformance/utils/grpc/grpc.go): undefined when the call meets the case. */
export async function replayGrpc(target: string, defaultAuthority: string, c: GrpcCase): Promise<string | undefined> {
  const method = c.EchoRequest ? 'Echo' : c.EchoTwoRequest ? 'EchoTwo' : 'EchoThree';
  const Ctor = service();
  const client = new Ctor(target, grpc.credentials.createInsecure(), { 'grpc.default_authority': c.RequestMetadata?.Authority || defaultAuthority });
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(c.RequestMetadata?.Metadata ?? {})) md.set(k.toLowerCase(), v);
  try {
    const { code, reply } = await new Promise<{ code: number; reply?: EchoResponse }>((resolve) => {
      const call = (client as unknown as Record<string, Unary>)[method];
      if (!call) return resolve({ code: grpc.status.INTERNAL });
      call.call(client, {}, md, { deadline: Date.now() + 5000 }, (err, r) => resolve({ code: err ? err.code : grpc.status.OK, ...(r ? { reply: r } : {}) }));
    });
    const want = c.Response?.Code ?? 0;
    if (code !== want) return `expected status code to be ${want}, but got ${code}`;
    if (code === Number(grpc.status.OK)) {
      const fqm = `/${PACKAGE}.GrpcEcho/${method}`;
      const a = reply?.assertions;
      if (a?.fullyQualifiedMethod !== fqm) return `expected path to be ${fqm}, got ${a?.fullyQualifiedMethod ?? ''}`;
      if (c.Namespace && c.Namespace !== a.context?.namespace) return `expected namespace to be ${c.Namespace}, got ${a.context?.namespace ?? ''}`;
      if (!(a.context?.pod ?? '').startsWith(c.Backend ?? '')) return `expected pod name to start with ${c.Backend ?? ''}, got ${a.context?.pod ?? ''}`;
    }
    return undefined;
  } finally {
    client.close();
  }
}
