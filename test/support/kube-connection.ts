// A KubeConnection to the test API server built directly, as in-cluster config would build it:
// unit tests that are not about kubeconfig parsing skip loading @kubernetes/client-node (seconds
// on a busy machine).
import type { KubeConnection } from '../../lib/kube/config.js';
import type { TestApiServer } from './test-apiserver.js';

/** Connects as `token` (the admin by default) with `namespace` as the default namespace. */
export function testApiConnection(api: TestApiServer, token = api.adminToken, namespace = 'default'): KubeConnection {
  return {
    server: api.url,
    caPem: api.caPem,
    clientCertPem: undefined,
    clientKeyPem: undefined,
    serverName: undefined,
    skipTlsVerify: false,
    namespace,
    source: 'test',
    authorization: () => Promise.resolve(`Bearer ${token}`),
  };
}
