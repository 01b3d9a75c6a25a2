// docs/sidecar-config.md is generated from the settings tables, and the tables are the names the
// parsers really read: a variable cannot be read without a row, nor documented without being read.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { CHECK_SETTING_NAMES, COMPONENT_SETTINGS, INIT_SETTING_NAMES, KNOWN_SETTING_NAMES, renderSettingsDoc } from '../../../cli/settings.js';
import { ConfigReader, settingNames } from '../../../lib/config.js';
import { PROXY_SETTINGS, parseProxyConfig } from '../../../proxy/config.js';
import { GATEWAY_SETTINGS, parseGatewayConfig } from '../../../gateway/config.js';
import { CA_SETTINGS, parseCaConfig } from '../../../ca/config.js';
import { INJECTOR_SETTINGS, readInjectorServerConfig } from '../../../injector/config.js';
import { readInjectorSettings } from '../../../injector/settings.js';
import { captureSource } from '../../../init/rules.js';

const DOC_URL = new URL('../../../docs/sidecar-config.md', import.meta.url);
const doc = readFileSync(DOC_URL, 'utf8');

/** An environment that records every name looked up in it. */
function recording(values: Record<string, string> = {}): { env: Record<string, string | undefined>; read: Set<string> } {
  const read = new Set<string>();
  const env = new Proxy<Record<string, string | undefined>>(values, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return typeof key === 'string' ? target[key] : undefined;
    },
  });
  return { env, read };
}

function attempt(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // required values are missing on purpose: only the names looked up matter here
  }
}

t.test('docs/sidecar-config.md holds exactly the tables the code renders (run npm run docs after changing a table)', async (t) => {
  t.equal(renderSettingsDoc(doc), doc, 'the generated tables are current');
  for (const [component, table] of Object.entries(COMPONENT_SETTINGS)) {
    const section = doc.slice(doc.indexOf(`<!-- settings:${component} begin`), doc.indexOf(`<!-- settings:${component} end -->`));
    for (const name of settingNames(table)) t.match(section, new RegExp(`^\\| [^|]*\`${name}\``, 'm'), `${component}: ${name} has a row`);
  }
});

t.test('a table whose markers are missing from the doc is an error, not a silent gap', async (t) => {
  t.throws(() => renderSettingsDoc(doc.replace('<!-- settings:ca end -->', '')), { message: /no markers for the ca settings/ });
});

t.test('a changed table makes the checked-in doc stale', async (t) => {
  const stale = doc.replace('| `WEFT_ACCESS_LOG` | bool | `false` |', '| `WEFT_ACCESS_LOG` | bool | `true` |');
  t.not(stale, doc, 'the row is there to change');
  t.not(renderSettingsDoc(stale), stale, 'rendering puts the code\'s default back');
});

t.test('weft init\'s variables are documented with their flags', async (t) => {
  for (const name of INIT_SETTING_NAMES) t.match(doc, `(\`${name}\`)`, `${name} is in the weft init table`);
});

t.test('every variable the proxy reads, in either mode, is a row of its table, and every row is read', async (t) => {
  const local = recording({ WEFT_MODE: 'local' });
  attempt(() => parseProxyConfig(local.env));
  const kube = recording({ WEFT_MODE: 'kubernetes' });
  attempt(() => parseProxyConfig(kube.env));
  t.same([...new Set([...local.read, ...kube.read])].sort(), settingNames(PROXY_SETTINGS).sort());
  t.notOk(local.read.has('WEFT_CA_ADDR'), 'local mode does not read the kubernetes-only rows');
  t.notOk(kube.read.has('WEFT_CA_DIR'), 'kubernetes mode does not read the local-only rows');
});

t.test('the gateway, the CA and the injector read exactly the names of their tables', async (t) => {
  const local = recording({ WEFT_MODE: 'local' });
  attempt(() => parseGatewayConfig(local.env));
  const kube = recording({ WEFT_MODE: 'kubernetes' });
  attempt(() => parseGatewayConfig(kube.env));
  t.same([...new Set([...local.read, ...kube.read])].sort(), settingNames(GATEWAY_SETTINGS).sort(), 'gateway');
  const ca = recording();
  attempt(() => parseCaConfig(ca.env));
  t.same([...ca.read].sort(), settingNames(CA_SETTINGS).sort(), 'ca');
  const injector = recording();
  const r = new ConfigReader(injector.env);
  readInjectorServerConfig(r);
  readInjectorSettings(r);
  r.done();
  t.same([...injector.read].sort(), settingNames(INJECTOR_SETTINGS).sort(), 'injector');
  const init = recording();
  captureSource([], init.env);
  t.same([...init.read].sort(), [...INIT_SETTING_NAMES].sort(), 'weft init');
});

t.test('the known names are every table\'s names and weft init\'s, and nothing else', async (t) => {
  const all = new Set([...Object.values(COMPONENT_SETTINGS).flatMap(settingNames), ...INIT_SETTING_NAMES, ...CHECK_SETTING_NAMES]);
  t.same([...KNOWN_SETTING_NAMES].sort(), [...all].sort());
  t.ok(KNOWN_SETTING_NAMES.has('WEFT_GATEWAY_ROUTES_FILE') && KNOWN_SETTING_NAMES.has('WEFT_INJECTOR_IMAGE') && KNOWN_SETTING_NAMES.has('WEFT_SKIP_OUTBOUND_CIDRS'));
  t.notOk(KNOWN_SETTING_NAMES.has('WEFT_POD_IP'), 'the removed WEFT_POD_IP is no longer known');
});
