import t from 'tap';
import { createServer } from 'node:http';
import { TestApiServer } from '../../support/test-apiserver.js';
import { kubeRequest } from '../../support/kube-request.js';

t.test('SubjectAccessReview answers for another user through the authorizer', async (t) => {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  api.setAuthorizer((a) => a.user.username === 'system:serviceaccount:weft-system:weft-ca' && a.verb === 'create' && a.resource === 'tokenreviews');
  const target = { url: api.url, caPem: api.caPem, token: api.adminToken };
  const review = (user: string, verb: string, resource: string) =>
    kubeRequest(target, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user, groups: ['system:serviceaccounts'], resourceAttributes: { verb, group: 'authentication.k8s.io', resource } },
    });
  const yes = await review('system:serviceaccount:weft-system:weft-ca', 'create', 'tokenreviews');
  t.equal(yes.status, 201);
  t.equal((yes.body as { status: { allowed: boolean } }).status.allowed, true);
  const no = await review('system:serviceaccount:weft-system:weft-ca', 'delete', 'tokenreviews');
  t.equal((no.body as { status: { allowed: boolean } }).status.allowed, false);
  const bad = await kubeRequest(target, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { spec: {} });
  t.equal(bad.status, 422, 'a review with no user or group is invalid');
});

t.test('GET /version reports the configured version', async (t) => {
  const api = await TestApiServer.start({ gitVersion: 'v1.28.4' });
  t.teardown(() => api.stop());
  const v = await kubeRequest({ url: api.url, caPem: api.caPem }, 'GET', '/version');
  t.match(v.body, { major: '1', minor: '28', gitVersion: 'v1.28.4' });
});

t.test('pods/proxy forwards a GET to the pod IP and port, and 503s when nothing listens', async (t) => {
  const api = await TestApiServer.start();
  t.teardown(() => api.stop());
  const app = createServer((req, res) => res.end(`hello from ${req.url}`));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => app.close());
  const port = (app.address() as { port: number }).port;
  api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'web', image: 'x' }] }, status: { podIP: '127.0.0.1' } });
  const target = { url: api.url, caPem: api.caPem, token: api.adminToken };
  const ok = await kubeRequest(target, 'GET', `/api/v1/namespaces/default/pods/web:${port}/proxy/metrics?x=1`);
  t.equal(ok.status, 200);
  t.equal(ok.body, 'hello from /metrics?x=1');
  app.close();
  const down = await kubeRequest(target, 'GET', `/api/v1/namespaces/default/pods/web:${port}/proxy/metrics`);
  t.equal(down.status, 503);
  const missing = await kubeRequest(target, 'GET', `/api/v1/namespaces/default/pods/nope:${port}/proxy/metrics`);
  t.equal(missing.status, 404);
});
