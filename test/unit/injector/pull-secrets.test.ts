import t from 'tap';
import fjp from 'fast-json-patch';
import { ConfigReader } from '../../../lib/config.js';
import { answerReview } from '../../../injector/admission.js';
import { applyOperations, type PatchOperation } from '../../../injector/json-patch.js';
import { pullSecretOps } from '../../../injector/pull-secrets.js';
import { readInjectorSettings, type InjectorSettings } from '../../../injector/settings.js';
import { makeTestPki } from '../../support/pki.js';

type Obj = Record<string, unknown>;
const ROOTS = (await makeTestPki()).authority.root.toString('pem') + '\n';

function settings(env: Record<string, string>): InjectorSettings {
  const r = new ConfigReader(env);
  const s = readInjectorSettings(r);
  r.done();
  return { ...s, trustAnchors: ROOTS };
}

function review(spec: Obj): Obj {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop', operation: 'CREATE',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop' }, spec },
    },
  };
}

/** The pod the API server would store: the review's object with the injector's patch applied. */
function admitted(spec: Obj, s: InjectorSettings): Obj {
  const body = review(spec);
  const answer = answerReview(body, s, 'enabled');
  const response = (answer.body as { response: { allowed: boolean; patch?: string } }).response;
  t.equal(response.allowed, true);
  const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString()) as PatchOperation[];
  const pod = (body['request'] as Obj)['object'] as Obj;
  t.equal(fjp.validate(patch as fjp.Operation[], structuredClone(pod)), undefined, 'fast-json-patch finds the patch valid');
  return applyOperations(pod, patch);
}

const app = { containers: [{ name: 'web', image: 'nginx' }] };

t.test('WEFT_INJECTOR_IMAGE_PULL_SECRETS reaches an injected pod through the AdmissionReview', async (t) => {
  const s = settings({ WEFT_INJECTOR_IMAGE: 'registry.example.com/weft@sha256:' + 'a'.repeat(64), WEFT_INJECTOR_IMAGE_PULL_SECRETS: 'registry-credentials, mirror-credentials' });
  t.same(s.imagePullSecrets, ['registry-credentials', 'mirror-credentials']);
  const pod = admitted(app, s);
  const spec = pod['spec'] as Obj;
  t.same(spec['imagePullSecrets'], [{ name: 'registry-credentials' }, { name: 'mirror-credentials' }], 'both Secrets on a pod that had none');
  const init = (spec['initContainers'] as Obj[]).find((c) => c['name'] === 'weft-init');
  t.equal(init?.['image'], 'registry.example.com/weft@sha256:' + 'a'.repeat(64), 'the init container uses the digest reference');
});

t.test("the pod's own pull secrets stay, and a name it lists already is not repeated", async (t) => {
  const s = settings({ WEFT_INJECTOR_IMAGE_PULL_SECRETS: 'registry-credentials,shared' });
  const pod = admitted({ ...app, imagePullSecrets: [{ name: 'shared' }, { name: 'app-only' }] }, s);
  t.same((pod['spec'] as Obj)['imagePullSecrets'], [{ name: 'shared' }, { name: 'app-only' }, { name: 'registry-credentials' }]);
});

t.test('no pull secrets configured: the pod spec gets no imagePullSecrets field', async (t) => {
  const pod = admitted(app, settings({}));
  t.notOk('imagePullSecrets' in (pod['spec'] as Obj));
  t.same(pullSecretOps({}, []), []);
});

t.test('a name that is not a Secret name stops the injector at start, naming the variable', async (t) => {
  const r = new ConfigReader({ WEFT_INJECTOR_IMAGE_PULL_SECRETS: 'ok-name,Bad_Name' });
  readInjectorSettings(r);
  t.throws(() => r.done(), { code: 'WEFT_ERR_CONFIG', message: /WEFT_INJECTOR_IMAGE_PULL_SECRETS: "Bad_Name" is not a Secret name/ });
});
