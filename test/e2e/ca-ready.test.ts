// End to end: `weft ca`'s /ready tells the truth about its issuer, with a real `weft ca` process
// against the test API server: on an expired issuer it is not ready, says why (body and one log
// line), signs nothing, and is ready and signing once a valid issuer is mounted.
import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeMesh, type KubePod } from '../support/kube-mesh.js';
import { randomBase, metric } from '../support/local-mesh.js';
import { logLines, readyUntil } from '../support/readiness.js';
import { requestCertificate } from '../support/ca-request.js';
import { createIssuer, createRoot, type SigningPair } from '../../lib/pki/authority.js';
import { privateKeyToPem } from '../../lib/pki/crypto.js';

const HOUR = 3_600_000;
const base = randomBase();
const mesh = await KubeMesh.create();
t.teardown(() => mesh.close());

async function writeIssuer(dir: string, root: SigningPair, issuer: SigningPair): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'tls.key'), await privateKeyToPem(issuer.key));
  await writeFile(join(dir, 'ca.crt'), root.cert.toString('pem'));
  // The certificate last: the CA watches it to decide on a reload.
  await writeFile(join(dir, 'tls.crt'), issuer.cert.toString('pem'));
}

t.test('weft ca on an expired issuer is not ready, says why, signs nothing, and is ready once a valid one is mounted', async (t) => {
  const now = Date.now();
  const root = await createRoot({ trustDomain: 'cluster.local', now: new Date(now - 10 * HOUR), lifetimeHours: 48 });
  const dir = join(mesh.dir, 'expired-issuer');
  await writeIssuer(dir, root, await createIssuer({ root, trustDomain: 'cluster.local', now: new Date(now - 10 * HOUR), lifetimeHours: 1 }));
  const addr = `${base}.2`;
  const expired = await mesh.startCa(addr, { WEFT_CA_ISSUER_DIR: dir, WEFT_TRUST_ANCHORS_FILE: join(dir, 'ca.crt'), WEFT_CA_RELOAD_INTERVAL_MS: '200' }, { wait: false });
  const answer = await readyUntil(expired, 'the admin answers', (a) => a.reasons.some((r) => r.startsWith('issuer')), 20_000);
  t.equal(answer.status, 503);
  t.match(answer.reasons, [/^issuer expired at \d{4}-\d\d-\d\dT/]);
  const said = await logLines(expired, /^not ready: issuer expired at /);
  t.equal(said.length, 1, 'logged once');
  t.match(said[0], { code: 'WEFT_ERR_CA_ISSUER_INVALID', level: 50 });
  const pod: KubePod = { name: 'orders-2', address: `${base}.12`, serviceAccount: 'orders' };
  mesh.addPod(pod);
  const token = mesh.api.issueToken({ namespace: 'shop', serviceAccount: 'orders', audiences: ['weft-ca'], pod: { name: pod.name } });
  const refused = await requestCertificate({ url: `https://${addr}:8443`, caPem: root.cert.toString('pem'), token, verify: false });
  t.equal(refused.status, 503);
  t.equal(refused.body['error'], 'WEFT_ERR_CA_ISSUER_INVALID');
  t.notOk('certificate' in refused.body, 'nothing signed with it');
  t.equal(await metric(expired.admin, 'weft_ca_certificates_issued_total'), 0);
  await writeIssuer(dir, root, await createIssuer({ root, trustDomain: 'cluster.local', now: new Date(), lifetimeHours: 24 }));
  await readyUntil(expired, 'ready on the new issuer', (a) => a.status === 200, 10_000);
  const ok = await requestCertificate({ url: `https://${addr}:8443`, caPem: root.cert.toString('pem'), token });
  t.equal(ok.status, 200, 'signs with the new issuer, over a serving certificate from it');
});
