// The sidecar's V8 heap bound: 64 MB without a memory limit, 40 % of a limit above that, never less.
import t from 'tap';
import { SIDECAR_OLD_SPACE_MB, sidecarNodeOptions } from '../../../lib/node-options.js';

const MIB = 2 ** 20;

t.test('no limit: the floor; a limit: 40 % of it, never below the floor', async (t) => {
  t.equal(sidecarNodeOptions(undefined), `--max-old-space-size=${SIDECAR_OLD_SPACE_MB}`);
  t.equal(sidecarNodeOptions(256 * MIB), '--max-old-space-size=102', "the injector's default 256Mi limit");
  t.equal(sidecarNodeOptions(1024 * MIB), '--max-old-space-size=409');
  t.equal(sidecarNodeOptions(64 * MIB), '--max-old-space-size=64', 'a small limit still gets the floor');
});
