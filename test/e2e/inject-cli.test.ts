// `weft inject` as users run it: the built CLI (node dist/cli/main.js inject) on files and stdin.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { makeTestPki } from '../support/pki.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const main = `${root}dist/cli/main.js`;
const fixtures = `${root}test/fixtures/manifests/`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// The trust anchors every `weft inject` below is given (as users pass the ConfigMap's roots.pem).
const tmp = mkdtempSync(join(tmpdir(), 'weft-inject-cli-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const anchorsFile = join(tmp, 'roots.pem');
const anchors = (await makeTestPki()).authority.root.toString('pem');
writeFileSync(anchorsFile, anchors);

function weft(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const withAnchors = args[0] === 'inject' && !args.includes('--trust-anchors') ? [...args, '--trust-anchors', anchorsFile] : args;
    const child = spawn(process.execPath, [main, ...withAnchors], { cwd: root, env: { PATH: process.env['PATH'] ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

const docs = (text: string): unknown[] => parseAllDocuments(text).map((d) => (d as { toJS(): unknown }).toJS());
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every field of `before` is in `after` with the same value, except app probes (rewritten). */
function lostFields(before: unknown, after: unknown, path = ''): string[] {
  if (/(liveness|readiness|startup)Probe$/.test(path)) return [];
  if (Array.isArray(before)) {
    if (!Array.isArray(after)) return [path];
    // Containers and volumes may gain weft entries; match by name where there is one.
    return before.flatMap((b, i) => {
      const name = isObj(b) ? b['name'] : undefined;
      // The n-th entry of that name (volumeMounts may repeat a volume name).
      const nth = before.slice(0, i).filter((x) => isObj(x) && x['name'] === name).length;
      const a = name !== undefined ? after.filter((x) => isObj(x) && x['name'] === name)[nth] : after[i];
      return lostFields(b, a, `${path}/${typeof name === 'string' || typeof name === 'number' ? name : i}`);
    });
  }
  if (isObj(before)) {
    if (!isObj(after)) return before === null && after === null ? [] : [path];
    return Object.entries(before).flatMap(([k, v]) => {
      // A null field (helm's `volumes:`) may be replaced by the list weft adds.
      if (v === null && (k === 'volumes' || k === 'annotations' || k === 'initContainers')) return [];
      return lostFields(v, after[k], `${path}/${k}`);
    });
  }
  return Object.is(before, after) ? [] : [`${path} (${JSON.stringify(before)} -> ${JSON.stringify(after)})`];
}

t.test('every corpus file: no field lost, workloads injected, others untouched', async (t) => {
  const files = readdirSync(fixtures).filter((f) => f.endsWith('.yaml')).sort();
  // One run over the whole corpus as a single multi-document stream on stdin (one process, not 33).
  const inputs = files.map((f) => readFileSync(fixtures + f, 'utf8'));
  const r = await weft(['inject', '-f', '-'], inputs.map((text) => (text.startsWith('---') ? text : '---\n' + text)).join('\n'));
  t.equal(r.code, 0, r.stderr);
  const before = inputs.flatMap(docs);
  const after = docs(r.stdout);
  t.equal(after.length, before.length, 'same number of documents');
  const kinds = new Set<string>();
  before.forEach((b, i) => {
    const kind = isObj(b) ? String(b['kind']) : '';
    const name = isObj(b) && isObj(b['metadata']) ? String(b['metadata']['name']) : '';
    t.same(lostFields(b, after[i]), [], `${kind}/${name}: no field lost`);
    kinds.add(kind);
    if (['Service', 'ConfigMap', 'Secret', 'PodDisruptionBudget'].includes(kind)) t.same(after[i], b, `${kind}/${name} passes through unchanged`);
  });
  t.equal(r.stderr.split('\n').filter((l) => /: (injected|skipped|passed-through) \(/.test(l)).length, before.length + 1, 'a report line per object (List items count one each)');
  for (const k of ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'List']) t.ok(kinds.has(k), `the corpus exercises ${k}`);
  // And from a file, as most people run it.
  const one = await weft(['inject', '-f', fixtures + 'k8s-docs-statefulset-web.yaml']);
  t.equal(one.code, 0);
  t.match(one.stdout, /name: weft-proxy/);
  t.match(one.stdout, /# has to match \.spec\.template\.metadata\.labels/, 'comments of the injected document survive');
});

t.test('stdin, Lists, comments and the fallback mode', async (t) => {
  const input = `# keep me
apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: Job
  metadata: {name: once} # inline comment
  spec:
    template:
      spec:
        restartPolicy: Never
        containers: [{name: job, image: busybox}]
- apiVersion: example.com/v1
  kind: Widget
  metadata: {name: w}
  spec: {template: {spec: {containers: [{name: x, image: y}]}}}
`;
  const r = await weft(['inject', '-f', '-', '--no-native-sidecars'], input);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^# keep me/, 'top comment kept');
  t.match(r.stdout, /# inline comment/, 'inline comment kept');
  const list = docs(r.stdout)[0] as { items: Obj[] };
  const job = list.items[0] as { spec: { template: { spec: { containers: { name: string }[]; initContainers: { name: string }[] } } } };
  t.same(job.spec.template.spec.containers.map((c) => c.name), ['weft-proxy', 'job'], 'fallback: the proxy is the first container');
  t.same(job.spec.template.spec.initContainers.map((c) => c.name), ['weft-init']);
  t.same(list.items[1], (docs(input)[0] as { items: Obj[] }).items[1], 'an unknown kind passes through');
  t.match(r.stderr, /Widget\/w: passed-through/);
});

t.test('a bad annotation fails the run and writes nothing', async (t) => {
  const input = `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {config.weft.dev/proxy-memory-limit: "lots"}
spec: {containers: [{name: a, image: b}]}
`;
  const r = await weft(['inject', '-f', '-'], input);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, /WEFT_ERR_INJECT_REJECTED: .*Pod\/p: .*config\.weft\.dev\/proxy-memory-limit="lots"/);
});

t.test('broken YAML, missing files and missing -f are reported', async (t) => {
  const bad = await weft(['inject', '-f', '-'], 'a: [1, 2\nb: c\n');
  t.equal(bad.code, 1);
  t.match(bad.stderr, /WEFT_ERR_MANIFEST: document 1:/);
  const missing = await weft(['inject', '-f', '/nonexistent.yaml']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot read \/nonexistent\.yaml: ENOENT/);
  const usage = await weft(['inject']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /-f <file> is required/);
  const unknown = await weft(['inject', '--frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /Unknown option '--frobnicate'/);
});

t.test('the image flag and environment settings reach the output', async (t) => {
  const input = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b}]}\n';
  const r = await weft(['inject', '-f', '-', '--image', 'registry.local/weft:dev', '--quiet'], input);
  t.equal(r.code, 0);
  t.equal(r.stderr, '', '--quiet prints no report');
  const pod = docs(r.stdout)[0] as { spec: { initContainers: { image: string }[] } };
  t.same(pod.spec.initContainers.map((c) => c.image), ['registry.local/weft:dev', 'registry.local/weft:dev']);
});

t.test('the trust anchors reach each proxy env; without them nothing is injected', async (t) => {
  const input = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b}]}\n';
  const r = await weft(['inject', '-f', '-', '--quiet'], input);
  t.equal(r.code, 0);
  const pod = docs(r.stdout)[0] as { spec: { initContainers: { name: string; env?: { name: string; value?: string }[] }[]; volumes: { name: string }[] } };
  const env = pod.spec.initContainers.find((c) => c.name === 'weft-proxy')?.env ?? [];
  t.equal(env.find((e) => e.name === 'WEFT_TRUST_ANCHORS')?.value?.trim(), anchors.trim());
  t.same(pod.spec.volumes.map((v) => v.name), ['weft-token'], 'no per-namespace trust anchors volume');
  const none = await weft(['inject', '-f', '-', '--trust-anchors', join(tmp, 'absent.pem')], input);
  t.equal(none.code, 1);
  t.equal(none.stdout, '');
  t.match(none.stderr, /WEFT_ERR_INJECT_NO_TRUST_ANCHORS: .*Pod\/p: .*has no trust anchors.*absent\.pem: ENOENT.*pass --trust-anchors/);
  const passThrough = await weft(['inject', '-f', '-', '--trust-anchors', join(tmp, 'absent.pem')], 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\n');
  t.equal(passThrough.code, 0, 'nothing to inject needs no trust anchors');
});
