// The HTTP/2 branch's pure pieces: which requests go over HTTP/2, the grpc-timeout reader, the
// timeout choice, and gRPC's grpc-message encoding.
import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { grpcTimeoutMs, isGrpcRequest, shorterTimeout, H2C_APP_PROTOCOLS } from '../../../gateway/steps/forward-h2.js';
import { encodeGrpcMessage } from '../../../mesh/rescue.js';

const req = (httpVersionMajor: number, contentType?: string): IncomingMessage =>
  ({ httpVersionMajor, headers: contentType === undefined ? {} : { 'content-type': contentType } }) as unknown as IncomingMessage;

t.test('a gRPC request is HTTP/2 with content-type application/grpc (any subtype), never gRPC-Web', async (t) => {
  t.ok(isGrpcRequest(req(2, 'application/grpc')));
  t.ok(isGrpcRequest(req(2, 'application/grpc+proto')));
  t.ok(isGrpcRequest(req(2, 'application/grpc;charset=utf-8')));
  t.notOk(isGrpcRequest(req(2, 'application/grpc-web')), 'gRPC-Web is not');
  t.notOk(isGrpcRequest(req(2, 'application/json')));
  t.notOk(isGrpcRequest(req(2)));
  t.notOk(isGrpcRequest(req(1, 'application/grpc')), 'HTTP/1.1 cannot carry gRPC');
});

t.test('the appProtocols that mean h2c', async (t) => {
  t.same([...H2C_APP_PROTOCOLS].sort(), ['grpc', 'h2c', 'kubernetes.io/h2c']);
});

t.test('grpc-timeout is read in every unit, and a malformed one is a problem', async (t) => {
  t.equal(grpcTimeoutMs(undefined), undefined);
  t.equal(grpcTimeoutMs('2H'), 7_200_000);
  t.equal(grpcTimeoutMs('3M'), 180_000);
  t.equal(grpcTimeoutMs('5S'), 5000);
  t.equal(grpcTimeoutMs('250m'), 250);
  t.equal(grpcTimeoutMs('1500u'), 2, 'rounded up to whole ms');
  t.equal(grpcTimeoutMs('10n'), 1, 'a deadline already near still is at least 1 ms');
  for (const bad of ['', 'soon', '5', '5s', '123456789S', '-1S', '1.5S']) t.type(grpcTimeoutMs(bad), 'object', JSON.stringify(bad));
});

t.test('the shorter timeout wins, and 0 or undefined mean none', async (t) => {
  t.equal(shorterTimeout(100, 50), 50);
  t.equal(shorterTimeout(undefined, 50), 50);
  t.equal(shorterTimeout(0, 50), 50);
  t.equal(shorterTimeout(100, undefined), 100);
  t.equal(shorterTimeout(0, undefined), undefined);
});

t.test('grpc-message percent-encodes only what gRPC asks (non-printable bytes and %)', async (t) => {
  t.equal(encodeGrpcMessage('WEFT_ERR_NO_ROUTE: no route for a.test/x.Y/Z'), 'WEFT_ERR_NO_ROUTE: no route for a.test/x.Y/Z');
  t.equal(encodeGrpcMessage('100% sure\n'), '100%25 sure%0A');
  t.equal(encodeGrpcMessage('é'), '%C3%A9');
  t.equal(decodeURIComponent(encodeGrpcMessage('mixed é % /')), 'mixed é % /');
});
