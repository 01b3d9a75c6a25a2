// The sidecar's V8 heap bound: 64 MB without a memory limit, 40 % of a limit above that, never less.
import t from 'tap';
import { PROXY_SEMI_SPACE_MB, SIDECAR_OLD_SPACE_MB, proxyNodeOptions, sidecarNodeOptions } from '../../../lib/node-options.js';

const MIB = 2 ** 20;

t.test('no limit: the floor; a limit: 40 % of it, never below the floor', async (t) => {
  t.equal(sidecarNodeOptions(undefined), `--max-old-space-size=${SIDECAR_OLD_SPACE_MB}`);
  t.equal(sidecarNodeOptions(256 * MIB), '--max-old-space-size=102', "the injector's default 256Mi limit");
  t.equal(sidecarNodeOptions(1024 * MIB), '--max-old-space-size=409');
  t.equal(sidecarNodeOptions(64 * MIB), '--max-old-space-size=64', 'a small limit still gets the floor');
});

t.test('a proxy sidecar also gets the semi-space bound', async (t) => {
  t.equal(PROXY_SEMI_SPACE_MB, 8);
  t.equal(proxyNodeOptions(undefined), `--max-old-space-size=${SIDECAR_OLD_SPACE_MB} --max-semi-space-size=8`);
  t.equal(proxyNodeOptions(256 * MIB), '--max-old-space-size=102 --max-semi-space-size=8', "the injector's default 256Mi limit");
});
