// The GRPCRoute replay's own parts, before a gateway reads GRPCRoute: the GrpcEcho server answers
// upstream's SendRPC the way upstream's compareResponse expects (method, namespace, pod), and a
// case that expects another backend or code is reported with upstream's message.
import t from 'tap';
import { replayGrpc, startGrpcEcho } from '../../support/grpc-echo-basic.js';
import { randomBase } from '../../support/local-mesh.js';

t.test('GrpcEcho answers Echo, EchoTwo and EchoThree as the conformance client checks them', async (t) => {
  const address = `${randomBase()}.7`;
  const stop = await startGrpcEcho({ namespace: 'gateway-conformance-infra', service: 'grpc-infra-backend-v1', pod: 'grpc-infra-backend-v1-abc', address, port: 3000 });
  t.teardown(stop);
  const target = `${address}:3000`;
  const ok = { Backend: 'grpc-infra-backend-v1', Namespace: 'gateway-conformance-infra', line: 1 };
  t.equal(await replayGrpc(target, address, { ...ok, EchoRequest: {} }), undefined, 'Echo');
  t.equal(await replayGrpc(target, address, { ...ok, EchoTwoRequest: {}, RequestMetadata: { Authority: 'foo.bar.com', Metadata: { Version: 'two' } } }), undefined, 'EchoTwo with authority and metadata');
  t.equal(await replayGrpc(target, address, { ...ok, EchoThreeRequest: {} }), undefined, 'EchoThree');
  t.equal(await replayGrpc(target, address, { ...ok, EchoRequest: {}, Backend: 'grpc-infra-backend-v2' }), 'expected pod name to start with grpc-infra-backend-v2, got grpc-infra-backend-v1-abc');
  t.equal(await replayGrpc(target, address, { ...ok, EchoRequest: {}, Response: { Code: 12 } }), 'expected status code to be 12, but got 0');
  t.equal(await replayGrpc(target, address, { ...ok, EchoRequest: {}, Namespace: 'elsewhere' }), 'expected namespace to be elsewhere, got gateway-conformance-infra');
});
