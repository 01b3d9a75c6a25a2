import t from 'tap';
import { createIssuer, createRoot } from '../../../lib/pki/authority.js';
import { EXPIRY_WARN_DAYS, runChecks } from '../../../check/checks.js';
import type { ClusterFacts, DeploymentFact, Fetched } from '../../../check/facts.js';
import { exitStatus, formatResults, type CheckResult } from '../../../check/results.js';

const now = new Date('2026-11-22T12:00:00Z');
const ok = <T>(value: T): Fetched<T> => ({ ok: true, value });
const dep: DeploymentFact = { desired: 2, ready: 2, env: {}, secretVolumes: {} };

async function facts(rootDays: number, issuerDays: number): Promise<ClusterFacts> {
  const root = await createRoot({ trustDomain: 'cluster.local', now, lifetimeHours: rootDays * 24 });
  const issuer = await createIssuer({ root, trustDomain: 'cluster.local', now, lifetimeHours: issuerDays * 24 });
  return {
    weftNamespace: 'weft-system', server: 'https://k8s', version: ok({ gitVersion: 'v1.30.1', major: 1, minor: 30 }),
    access: ok([]), ca: ok(dep), injector: ok(dep), gateway: { ok: false, missing: true, error: 'not found' },
    trustAnchors: ok(root.cert.toString('pem')), issuer: ok({ secret: 'weft-ca-issuer', certPem: issuer.cert.toString('pem') }),
    webhook: { config: ok([]), serving: { ok: false, missing: true, error: 'x' }, readyEndpoints: ok(2) }, namespaces: ok([]),
  };
}
const status = (rs: CheckResult[], id: string): string | undefined => rs.find((r) => r.id === id)?.status;

t.test(`roots and issuers warn under ${EXPIRY_WARN_DAYS} days and pass from there on`, async (t) => {
  const at = runChecks(await facts(EXPIRY_WARN_DAYS + 1, EXPIRY_WARN_DAYS + 1), now);
  t.equal(status(at, 'root-expiry'), 'pass');
  t.equal(status(at, 'issuer-expiry'), 'pass');
  const under = runChecks(await facts(EXPIRY_WARN_DAYS - 1, 10), now);
  t.equal(status(under, 'root-expiry'), 'warn');
  t.equal(status(under, 'issuer-expiry'), 'warn');
  t.match(under.find((r) => r.id === 'root-expiry')?.advice, 'docs/rotate-trust.md');
});

t.test('an expired root fails even when the issuer is fine', async (t) => {
  const f = await facts(400, 300);
  const rs = runChecks(f, new Date(now.getTime() + 401 * 86_400_000));
  t.equal(status(rs, 'root-expiry'), 'fail');
  t.equal(status(rs, 'issuer-expiry'), 'fail');
});

t.test('a missing gateway is not a failure (gateway.enabled=false); a missing CA is', async (t) => {
  const f = await facts(400, 300);
  const rs = runChecks({ ...f, ca: { ok: false, missing: true, error: 'Deployment weft-system/weft-ca not found' } }, now);
  t.notOk(rs.some((r) => r.id === 'gateway-ready'));
  t.equal(status(rs, 'ca-ready'), 'fail');
  t.match(rs.find((r) => r.id === 'ca-ready')?.advice, 'helm upgrade --install weft');
});

t.test('every warn and fail carries advice', async (t) => {
  const f = await facts(30, 20);
  const rs = runChecks({ ...f, version: ok({ gitVersion: 'v1.26.0', major: 1, minor: 26 }), injector: ok({ ...dep, ready: 1 }), webhook: { ...f.webhook, readyEndpoints: ok(0) } }, now);
  const bad = rs.filter((r) => r.status === 'warn' || r.status === 'fail');
  t.ok(bad.length >= 5, `${bad.length} problems`);
  for (const r of bad) t.ok(r.advice && r.advice.length > 10, `${r.id} says what to do`);
});

t.test('exit status: 0 pass, 1 any fail, 2 warnings only; the report ends with the tally', async (t) => {
  const r = (status: CheckResult['status']): CheckResult => ({ id: status, category: 'c', status, message: status });
  t.equal(exitStatus([r('pass'), r('skip')]), 0);
  t.equal(exitStatus([r('pass'), r('warn')]), 2);
  t.equal(exitStatus([r('warn'), r('fail')]), 1);
  t.match(formatResults([r('pass'), r('warn')]), /Status check results are ‼ \(1 passed, 1 warnings, 0 failed, 0 skipped\)\n$/);
});
