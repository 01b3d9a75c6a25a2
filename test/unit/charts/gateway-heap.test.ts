// The gateway Deployment's V8 heap bound: the chart computes NODE_OPTIONS from the gateway's memory
// limit exactly as lib/node-options.ts does for sidecars (40 % of the limit, at least 64 MB).
import t from 'tap';
import { sidecarNodeOptions } from '../../../lib/node-options.js';
import { env, find, helmTemplate } from './helm.js';

const MIB = 2 ** 20;
const CASES: readonly [string | null, number | undefined][] = [
  ['512Mi', 512 * MIB],
  ['1Gi', 1024 * MIB],
  ['100Mi', 100 * MIB],
  ['1G', 1e9],
  ['268435456', 268_435_456],
  [null, undefined],
];

for (const [limit, bytes] of CASES) {
  t.test(`memory limit ${String(limit)}: NODE_OPTIONS ${sidecarNodeOptions(bytes)}`, async (t) => {
    const r = helmTemplate({ gateway: { enabled: true, resources: { limits: { memory: limit } } } });
    const gw = find(r, 'Deployment', 'weft-gateway');
    t.ok(gw, 'the gateway is rendered');
    t.equal(env(gw, 'NODE_OPTIONS'), sidecarNodeOptions(bytes));
  });
}

t.test('the default values give the default limit\'s bound', async (t) => {
  const gw = find(helmTemplate({ gateway: { enabled: true } }), 'Deployment', 'weft-gateway');
  t.equal(env(gw, 'NODE_OPTIONS'), sidecarNodeOptions(512 * MIB), '512Mi by default');
});
