import t from 'tap';
import { ConfigReader } from '../../../lib/config.js';
import { isWeftError } from '../../../lib/errors.js';
import { DEFAULT_SETTINGS, isQuantity, quantityValue, readInjectorSettings } from '../../../injector/settings.js';

function read(env: Record<string, string>): ReturnType<typeof readInjectorSettings> {
  const r = new ConfigReader(env);
  const s = readInjectorSettings(r);
  r.done();
  return s;
}

t.test('defaults when nothing is set', async (t) => {
  t.same(read({}), DEFAULT_SETTINGS);
});

t.test('every variable is read; none unsets a resource', async (t) => {
  const s = read({
    WEFT_INJECTOR_IMAGE: 'registry.local/weft:dev',
    WEFT_INJECTOR_IMAGE_PULL_POLICY: 'Always',
    WEFT_CA_ADDR: 'https://ca.example:9443',
    WEFT_DESTINATION_ADDR: 'weft-destination.mesh.svc:8086',
    WEFT_DESTINATION_IDENTITY: 'spiffe://example.org/ns/mesh/sa/weft-destination',
    WEFT_TRUST_DOMAIN: 'example.org',
    WEFT_INJECTOR_TRUST_ANCHORS_FILE: '/etc/weft/roots.pem',
    WEFT_INJECTOR_NATIVE_SIDECARS: 'false',
    WEFT_INJECTOR_INBOUND_MODE: 'permissive',
    WEFT_INJECTOR_PROXY_LOG_LEVEL: 'debug',
    WEFT_INJECTOR_PROXY_MEMORY_LIMIT: 'none',
    WEFT_INJECTOR_PROXY_CPU_LIMIT: '2',
    WEFT_INJECTOR_TOKEN_EXPIRATION_SECONDS: '7200',
  });
  t.match(s, {
    image: 'registry.local/weft:dev',
    imagePullPolicy: 'Always',
    caAddr: 'https://ca.example:9443',
    destinationAddr: 'weft-destination.mesh.svc:8086',
    destinationIdentity: 'spiffe://example.org/ns/mesh/sa/weft-destination',
    trustDomain: 'example.org',
    trustAnchorsFile: '/etc/weft/roots.pem',
    trustAnchors: undefined,
    nativeSidecars: false,
    inboundMode: 'permissive',
    logLevel: 'debug',
    tokenExpirationSeconds: 7200,
  });
  t.same(s.proxyResources, { cpuRequest: '10m', cpuLimit: '2', memoryRequest: '32Mi' });
});

t.test('every bad variable is listed at once', async (t) => {
  try {
    read({ WEFT_INJECTOR_NATIVE_SIDECARS: 'maybe', WEFT_INJECTOR_PROXY_CPU_REQUEST: '10 cores', WEFT_INJECTOR_TOKEN_EXPIRATION_SECONDS: '60' });
    t.fail('should throw');
  } catch (err) {
    t.ok(isWeftError(err, 'WEFT_ERR_CONFIG'));
    t.match((err as Error).message, /WEFT_INJECTOR_NATIVE_SIDECARS="maybe" is not true or false/);
    t.match((err as Error).message, /WEFT_INJECTOR_PROXY_CPU_REQUEST="10 cores" is not a Kubernetes quantity/);
    t.match((err as Error).message, /WEFT_INJECTOR_TOKEN_EXPIRATION_SECONDS=60 is below the minimum 600/);
  }
});

t.test('quantities', async (t) => {
  for (const q of ['1', '100m', '0.5', '64Mi', '1Gi', '1e3', '.5', '2k']) t.ok(isQuantity(q), q);
  for (const q of ['-1', 'Mi', '1 Gi', '1MB', '', '1.2.3']) t.notOk(isQuantity(q), q);
  t.equal(quantityValue('100m'), 0.1);
  t.equal(quantityValue('1Gi'), 2 ** 30);
  t.equal(quantityValue('1e3'), 1000);
  t.ok((quantityValue('512Mi') ?? 0) < (quantityValue('1G') ?? 0));
});
