import t from 'tap';
import { ConfigReader } from '../../../lib/config.js';
import { planInjection } from '../../../injector/patch.js';
import { DEFAULT_SETTINGS, readInjectorSettings, type InjectorSettings } from '../../../injector/settings.js';
import { applyOperations } from '../../../injector/json-patch.js';
import { makeTestPki } from '../../support/pki.js';

type Obj = Record<string, unknown>;
const ROOTS = (await makeTestPki()).authority.root.toString('pem') + '\n';

function proxyEnv(settings: InjectorSettings, annotations: Record<string, string> = {}): Record<string, unknown> {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'shop', annotations }, spec: { containers: [{ name: 'db', image: 'mysql' }] } };
  const r = planInjection({ pod, namespace: 'shop', namespaceInjection: 'enabled', settings: { ...settings, trustAnchors: ROOTS } });
  if (r.kind !== 'injected') throw new Error(JSON.stringify(r));
  const spec = applyOperations(pod as Obj, r.patch)['spec'] as Obj;
  const all = [...((spec['initContainers'] as Obj[] | undefined) ?? []), ...(spec['containers'] as Obj[])];
  const proxy = all.find((c) => c['name'] === 'weft-proxy');
  return Object.fromEntries(((proxy?.['env'] as Obj[]) ?? []).map((e) => [e['name'], e['value']]));
}

t.test('config.weft.dev/opaque-ports becomes the proxy env WEFT_OPAQUE_PORTS; a bad value rejects the pod', async (t) => {
  t.equal(proxyEnv(DEFAULT_SETTINGS, { 'config.weft.dev/opaque-ports': '3306, 25,8000-8010' })['WEFT_OPAQUE_PORTS'], '3306,25,8000-8010');
  t.notOk('WEFT_OPAQUE_PORTS' in proxyEnv(DEFAULT_SETTINGS), 'absent without the annotation');
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'shop', annotations: { 'config.weft.dev/opaque-ports': 'mysql' } }, spec: { containers: [{ name: 'db', image: 'mysql' }] } };
  const r = planInjection({ pod, namespace: 'shop', namespaceInjection: 'enabled', settings: { ...DEFAULT_SETTINGS, trustAnchors: ROOTS } });
  t.match(r, { kind: 'rejected', message: /config\.weft\.dev\/opaque-ports="mysql": entry "mysql" is not a port or a range/ });
});

t.test('the egress policy reaches every proxy; the default allow is not written', async (t) => {
  t.notOk('WEFT_EGRESS_MODE' in proxyEnv(DEFAULT_SETTINGS));
  const env = proxyEnv({ ...DEFAULT_SETTINGS, egressMode: 'registry-only', egressAllow: ['api.example.com', '10.0.0.0/8'] });
  t.equal(env['WEFT_EGRESS_MODE'], 'registry-only');
  t.equal(env['WEFT_EGRESS_ALLOW'], 'api.example.com,10.0.0.0/8');
});

t.test('the injector checks the egress list at start with the proxy parser, listing every bad entry', async (t) => {
  const r = new ConfigReader({ WEFT_INJECTOR_EGRESS_MODE: 'registry-only', WEFT_INJECTOR_EGRESS_ALLOW: 'ok.example,bad host,10.0.0.0/99' });
  const s = readInjectorSettings(r);
  t.same(s.egressAllow, ['ok.example', 'bad host', '10.0.0.0/99']);
  t.throws(() => r.done(), /WEFT_INJECTOR_EGRESS_ALLOW: "bad host" is not a host name[\s\S]*"10\.0\.0\.0\/99" is not a CIDR/);
});
