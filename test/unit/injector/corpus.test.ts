// Runs the patching core over every manifest in test/fixtures/manifests (Kubernetes docs and
// rendered public Helm charts): the patch applies with fast-json-patch, the result validates
// against the Kubernetes schemas, a second pass changes nothing, and app containers are intact.
import t, { type Test } from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import fjp from 'fast-json-patch';
import { manifestProblems } from '../../support/kube-schemas.js';
import { planInjection, INJECTED_KEY } from '../../../injector/patch.js';
import { applyOperations, prefixOperations, type PatchOperation } from '../../../injector/json-patch.js';
import { injectManifests, TEMPLATE_PATHS } from '../../../injector/manifests.js';
import { DEFAULT_SETTINGS as BARE_SETTINGS, type InjectorSettings } from '../../../injector/settings.js';
import { makeTestPki } from '../../support/pki.js';

const DEFAULT_SETTINGS: InjectorSettings = { ...BARE_SETTINGS, trustAnchors: (await makeTestPki()).authority.root.toString('pem') + '\n' };
import { parseAppProbes } from '../../../proxy/app-probe.js';

const dir = new URL('../../../test/fixtures/manifests/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

/** Workloads the corpus expects weft to leave alone, and the reason it must give. */
const EXPECTED_SKIPS: Record<string, RegExp> = {
  'DaemonSet/node-exporter': /hostNetwork/,
  'Deployment/weft-ca': /part of weft itself/,
  'Pod/migrate': /weft\.dev\/inject: disabled/,
};

/** core/v1 Container fields (Kubernetes 1.31); the schema package does not reject unknown ones. */
const CONTAINER_FIELDS = new Set([
  'name', 'image', 'command', 'args', 'workingDir', 'ports', 'envFrom', 'env', 'resources', 'resizePolicy',
  'restartPolicy', 'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle',
  'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty',
]);
const PROBE_KEYS = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : []);

/** Schema problems of a manifest: types and required fields, plus unknown fields (strict). */
async function validate(value: Obj): Promise<string[]> {
  return manifestProblems(structuredClone(value));
}

function workloads(text: string): Obj[] {
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(text)) {
    const js = obj(doc.toJS());
    if (js['kind'] === 'List') out.push(...list(js['items']));
    else out.push(js);
  }
  return out;
}

function templateOf(w: Obj): Obj {
  let cur: unknown = w;
  for (const k of TEMPLATE_PATHS[String(w['kind'])] ?? []) cur = obj(cur)[k];
  return obj(cur);
}

const settingsModes: [string, InjectorSettings][] = [
  ['native sidecar', DEFAULT_SETTINGS],
  ['fallback container', { ...DEFAULT_SETTINGS, nativeSidecars: false }],
];

t.ok(files.length >= 25, `the corpus holds at least 25 manifests (${files.length})`);

let injectedCount = 0;
const probeKinds = new Set<string>();
for (const file of files) {
  const text = readFileSync(new URL(file, dir), 'utf8');
  t.test(file, async (t) => {
    for (const w of workloads(text)) {
      const kind = String(w['kind']);
      const meta = obj(w['metadata']);
      const label = `${kind}/${String(meta['name'] ?? meta['generateName'])}`;
      if (TEMPLATE_PATHS[kind] === undefined) continue;
      t.same(await validate(w), [], `${label}: the original validates`);
      const template = templateOf(w);
      for (const [mode, settings] of settingsModes) {
        const result = planInjection({ pod: template, namespace: 'corpus', namespaceInjection: 'enabled', settings });
        const skip = EXPECTED_SKIPS[label];
        if (skip) {
          t.equal(result.kind, 'skipped', `${label}: left alone`);
          if (result.kind === 'skipped') t.match(result.reason, skip, `${label}: says why`);
          continue;
        }
        if (result.kind !== 'injected') {
          t.fail(`${label} (${mode}): expected injection, got ${result.kind}: ${JSON.stringify(result)}`);
          continue;
        }
        injectedCount++;
        const prefix = (TEMPLATE_PATHS[kind] ?? []).map((k) => '/' + k).join('');
        const ops = prefixOperations(prefix, result.patch);
        // fast-json-patch with validation on: every path must exist and every op be well formed.
        const byLibrary = fjp.applyPatch(structuredClone(w), ops as fjp.Operation[], true, false).newDocument;
        t.same(applyOperations(w, ops), byLibrary, `${label} (${mode}): our applier agrees with fast-json-patch`);
        t.same(await validate(byLibrary), [], `${label} (${mode}): the patched ${kind} validates, unknown fields included`);
        checkPod(t, label, mode, template, templateOf(byLibrary), settings, result.patch);
        const again = planInjection({ pod: templateOf(byLibrary), namespace: 'corpus', namespaceInjection: 'enabled', settings });
        t.equal(again.kind, 'skipped', `${label} (${mode}): a second pass yields no patch`);
      }
    }
    // The YAML path: injecting the injected file again changes nothing.
    const once = injectManifests(text, DEFAULT_SETTINGS).yaml;
    const twice = injectManifests(once, DEFAULT_SETTINGS).yaml;
    t.equal(twice, once, 'weft inject twice equals weft inject once');
  });
}

function checkPod(t: Test, label: string, mode: string, before: Obj, after: Obj, settings: InjectorSettings, patch: readonly PatchOperation[]): void {
  const at = `${label} (${mode})`;
  const bSpec = obj(before['spec']);
  const aSpec = obj(after['spec']);
  // Nothing outside containers, initContainers, volumes and annotations moves.
  const touched = new Set(['containers', 'initContainers', 'volumes']);
  for (const k of new Set([...Object.keys(bSpec), ...Object.keys(aSpec)])) {
    if (!touched.has(k)) t.same(aSpec[k], bSpec[k], `${at}: spec.${k} unchanged`);
  }
  const bMeta = obj(before['metadata']);
  const aMeta = obj(after['metadata']);
  for (const k of Object.keys(bMeta)) if (k !== 'annotations') t.same(aMeta[k], bMeta[k], `${at}: metadata.${k} unchanged`);
  const bAnn = obj(bMeta['annotations']);
  const aAnn = obj(aMeta['annotations']);
  for (const [k, v] of Object.entries(bAnn)) t.equal(aAnn[k], v, `${at}: annotation ${k} kept`);
  t.ok(INJECTED_KEY in aAnn, `${at}: marked injected`);

  // Volumes: the originals first and unchanged, then weft's two.
  const bVol = list(bSpec['volumes']);
  const aVol = list(aSpec['volumes']);
  t.same(aVol.slice(0, bVol.length), bVol, `${at}: original volumes kept in order`);
  t.same(aVol.slice(bVol.length).map((v) => v['name']), ['weft-token']);
  const token = list(obj(aVol.find((v) => v['name'] === 'weft-token')?.['projected'])['sources'])[0];
  t.equal(obj(token?.['serviceAccountToken'])['audience'], 'weft-ca', `${at}: token audience weft-ca`);

  // Init containers: weft-init, then (native) the proxy, then the user's, unchanged but for probes.
  const aInit = list(aSpec['initContainers']);
  const bInit = list(bSpec['initContainers']);
  const weftInit = settings.nativeSidecars ? 2 : 1;
  t.same(aInit.slice(0, weftInit).map((c) => c['name']), settings.nativeSidecars ? ['weft-init', 'weft-proxy'] : ['weft-init']);
  const aContainers = list(aSpec['containers']);
  const bContainers = list(bSpec['containers']);
  const proxy = settings.nativeSidecars ? aInit[1] : aContainers[0];
  t.equal(proxy?.['name'], 'weft-proxy', `${at}: the proxy is where the mode puts it`);
  const trustEnv = list(proxy?.['env']).find((e) => e['name'] === 'WEFT_TRUST_ANCHORS');
  t.equal(trustEnv?.['value'], settings.trustAnchors, `${at}: the trust anchors PEM is in the proxy env`);
  t.notOk(list(proxy?.['volumeMounts']).some((m) => m['name'] === 'weft-trust-anchors'), `${at}: no per-namespace trust volume`);
  const appInit = aInit.slice(weftInit);
  const apps = settings.nativeSidecars ? aContainers : aContainers.slice(1);
  t.equal(appInit.length, bInit.length);
  t.equal(apps.length, bContainers.length);

  const probesEnv = list(proxy?.['env']).find((e) => e['name'] === 'WEFT_APP_PROBES');
  const recorded = parseAppProbes(probesEnv ? String(probesEnv['value']) : undefined);
  let rewritten = 0;
  const compare = (b: Obj, a: Obj | undefined, probesRewritten = true): void => {
    const name = String(b['name']);
    t.ok(a, `${at}: container ${name} still there`);
    if (!a) return;
    for (const c of [a, proxy ?? {}]) for (const k of Object.keys(c)) t.ok(CONTAINER_FIELDS.has(k), `${at}: ${String(c['name'])}.${k} is a Container field`);
    const strip = (c: Obj): Obj => Object.fromEntries(Object.entries(c).filter(([k]) => !(PROBE_KEYS as readonly string[]).includes(k)));
    t.same(strip(a), strip(b), `${at}: container ${name} unchanged apart from probes`);
    for (const key of PROBE_KEYS) {
      const bp = obj(b[key]);
      const ap = obj(a[key]);
      if (b[key] === undefined) {
        t.equal(a[key], undefined);
        continue;
      }
      const kindName = key.replace('Probe', '');
      if (!probesRewritten || bp['exec'] !== undefined || obj(bp['httpGet'])['host'] !== undefined) {
        t.same(ap, bp, `${at}: ${name}.${key} (exec or other host) untouched`);
        continue;
      }
      rewritten++;
      if (bp['grpc']) probeKinds.add('grpc');
      if (bp['tcpSocket']) probeKinds.add('tcp');
      if (bp['httpGet']) probeKinds.add('http');
      t.same(ap['httpGet'], { path: `/app-probe/${name}/${kindName}`, port: 7020, scheme: 'HTTP' }, `${at}: ${name}.${key} goes to the admin port`);
      for (const [k, v] of Object.entries(bp)) if (!['httpGet', 'tcpSocket', 'grpc'].includes(k)) t.same(ap[k], v, `${at}: ${name}.${key}.${k} kept`);
      const original = recorded.get(`${name}/${kindName}`);
      t.ok(original, `${at}: ${name}/${kindName} recorded in WEFT_APP_PROBES`);
      const handler = obj(bp['httpGet'] ?? bp['tcpSocket'] ?? bp['grpc']);
      const port = handler['port'];
      const expected =
        typeof port === 'number' ? port : list(b['ports']).find((p) => p['name'] === port)?.['containerPort'];
      t.equal(original?.port, expected, `${at}: ${name}/${kindName} port resolved to ${String(expected)}`);
    }
  };
  bContainers.forEach((b) => compare(b, apps.find((a) => a['name'] === b['name'])));
  // In fallback mode a user's native sidecar starts before the proxy: its probes stay as they are.
  bInit.forEach((b) => compare(b, appInit.find((a) => a['name'] === b['name']), settings.nativeSidecars));
  t.equal(recorded.size, rewritten, `${at}: one WEFT_APP_PROBES entry per rewritten probe`);
  t.ok(patch.every((o) => o.op === 'add' || o.path.endsWith('Probe')), `${at}: only probes are replaced`);
}

t.test('the corpus covers every probe kind and injects most workloads', async (t) => {
  t.same([...probeKinds].sort(), ['grpc', 'http', 'tcp']);
  t.ok(injectedCount >= 2 * 25, `injected ${injectedCount} pod templates across both modes`);
});
