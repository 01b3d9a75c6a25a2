// config.weft.dev/access-log and the mesh-wide default (Helm proxy.accessLog) -> the proxy's WEFT_ACCESS_LOG.
import t from 'tap';
import { ConfigReader } from '../../../lib/config.js';
import { parseAnnotations } from '../../../injector/annotations.js';
import { DEFAULT_SETTINGS, readInjectorSettings } from '../../../injector/settings.js';

t.test('the annotation reads true or false; anything else warns and keeps the default', async (t) => {
  t.equal(parseAnnotations({ 'config.weft.dev/access-log': 'true' }).overrides.accessLog, true);
  t.equal(parseAnnotations({ 'config.weft.dev/access-log': ' false ' }).overrides.accessLog, false);
  const bad = parseAnnotations({ 'config.weft.dev/access-log': 'yes' });
  t.equal(bad.overrides.accessLog, undefined);
  t.same(bad.errors, [], 'a cosmetic setting never rejects the pod');
  t.match(bad.warnings, [/config\.weft\.dev\/access-log="yes" is not true or false; the default is used/]);
});

t.test('the mesh-wide default is off and WEFT_INJECTOR_PROXY_ACCESS_LOG turns it on', async (t) => {
  t.equal(DEFAULT_SETTINGS.accessLog, false);
  const r = new ConfigReader({ WEFT_INJECTOR_PROXY_ACCESS_LOG: 'true' });
  t.equal(readInjectorSettings(r).accessLog, true);
  r.done();
});
