// Builds the SO_ORIGINAL_DST addon (proxy/capture/native/original_dst.c) into
// build/native/original_dst.node with the system C compiler and Node's own headers. npm runs it
// as the package's `install` script, so `npm ci` builds it; `npm run build:native` rebuilds it.
// It needs no network (no node-gyp header download). Without Linux, a compiler or the headers it
// says why and leaves the addon out: only opaque-TCP capture needs it (WEFT_ERR_ORIGINAL_DST_UNAVAILABLE).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'proxy/capture/native/original_dst.c');
const output = join(root, 'build/native/original_dst.node');
const strict = process.argv.includes('--strict');

function skip(reason) {
  process.stderr.write(`weft: native addon not built: ${reason}\n  (opaque TCP capture needs it; see docs/capture.md)\n`);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') skip(`SO_ORIGINAL_DST is Linux-only (this is ${process.platform})`);

const includeCandidates = [
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include/node'),
  join(dirname(process.execPath), '../include/node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter(Boolean);
const include = includeCandidates.find((dir) => existsSync(join(dir, 'node_api.h')));
if (!include) skip(`node_api.h not found in ${includeCandidates.join(', ')}`);

const compiler = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean).find((cc) => {
  try {
    execFileSync(cc, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (!compiler) skip('no C compiler (cc, gcc or clang); Debian: apt-get install gcc libc6-dev');

mkdirSync(dirname(output), { recursive: true });
const args = ['-std=c11', '-D_GNU_SOURCE', '-O2', '-Wall', '-Wextra', '-Werror', '-fPIC', '-shared', `-I${include}`, '-o', output, source];
try {
  execFileSync(compiler, args, { stdio: ['ignore', 'inherit', 'inherit'] });
} catch (err) {
  skip(`${compiler} ${args.join(' ')} failed: ${err.message}`);
}
process.stderr.write(`weft: built ${output}\n`);
