// The container image and its stand-in on CI (scripts/prod-smoke.sh): what they build, copy and run.
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
const smoke = readFileSync(new URL('scripts/prod-smoke.sh', root), 'utf8');
const tsconfig = JSON.parse(readFileSync(new URL('tsconfig.build.json', root), 'utf8')) as { include: string[] };
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
const ci = readFileSync(new URL('.ci/run', root), 'utf8');

/** Instructions per stage, comments and line continuations folded. */
function stages(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] = [];
  const lines = dockerfile.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  for (const line of lines) {
    const from = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(line);
    if (from) out.set(from[1] as string, (current = []));
    else current.push(line.trim());
  }
  return out;
}

t.test('the Dockerfile is multi-stage and its runtime stage holds only built JavaScript and production dependencies', async (t) => {
  const s = stages();
  t.same([...s.keys()], ['build', 'deps', 'runtime']);
  const runtime = s.get('runtime') ?? [];
  t.ok(s.get('deps')?.some((l) => /npm ci --omit=dev/.test(l)), 'production dependencies come from npm ci --omit=dev');
  const copies = runtime.filter((l) => l.startsWith('COPY'));
  t.ok(copies.some((l) => /--from=deps .*node_modules/.test(l)), 'node_modules from the deps stage');
  t.ok(copies.some((l) => /--from=build \/src\/dist dist/.test(l)), 'dist from the build stage');
  t.notOk(copies.some((l) => /COPY (lib|mesh|proxy|gateway|init|check|ca|cli|injector|test|tsconfig)/.test(l)), 'no TypeScript sources in the runtime stage');
  t.ok(runtime.some((l) => /apt-get install .*\biptables\b/.test(l)), 'iptables for weft init');
  t.ok(runtime.includes('USER 7007:7007'), 'runs as the proxy UID, not root');
  t.ok(runtime.includes('ENTRYPOINT ["weft"]'), 'the entrypoint is the weft executable');
  t.ok(runtime.some((l) => l.includes('ln -s /opt/weft/dist/cli/main.js /usr/local/bin/weft')));
});

t.test('the build stage copies every folder the production build compiles, and nothing of test/', async (t) => {
  const build = stages().get('build') ?? [];
  for (const dir of tsconfig.include) t.ok(build.includes(`COPY ${dir} ${dir}`), `COPY ${dir}`);
  t.notOk(build.some((l) => /^COPY (test|bench)\b/.test(l)), 'no test or bench folder is copied');
  t.notOk(tsconfig.include.some((d) => d.startsWith('test')), 'tsconfig.build.json compiles no test folder');
});

t.test('scripts/prod-smoke.sh installs and runs the same file list as the runtime stage', async (t) => {
  t.match(smoke, 'cp -R dist package.json package-lock.json examples');
  t.match(smoke, 'npm ci --omit=dev --ignore-scripts');
  t.match(smoke, 'build/native/original_dst.node');
  t.match(dockerfile, 'COPY examples examples');
  t.match(dockerfile, 'COPY --from=build /src/build/native build/native');
  for (const cmd of ['weft --version', 'weft inject', 'weft up --check']) t.match(smoke, cmd, `smoke runs ${cmd}`);
  t.match(ci, 'bash scripts/prod-smoke.sh', 'CI runs it');
});

t.test('the Dockerfile compiles with tsconfig.build.json only', async (t) => {
  const build = stages().get('build') ?? [];
  t.ok(build.includes('RUN npm run build'), 'the build stage runs npm run build');
  t.equal(pkg.scripts['build'], 'tsc -p tsconfig.build.json', 'npm run build compiles tsconfig.build.json');
  t.notOk(build.some((l) => /tsc\b(?!.*tsconfig\.build\.json)|build:test/.test(l)), 'no other compile in the image');
});

t.test('dist/ of the production build holds only the production folders, and no test or bench file', async (t) => {
  // npm test runs `npm run build` before tap, so dist/ is the production build of this tree.
  const dist = new URL('dist/', root);
  t.ok(existsSync(dist), 'dist/ exists (run npm run build first)');
  if (!existsSync(dist)) return;
  t.same(readdirSync(dist).sort(), [...tsconfig.include].sort(), 'one folder per tsconfig.build.json entry, nothing else');
  const files = readdirSync(dist, { recursive: true }).map(String);
  t.ok(files.some((f) => f === 'cli/main.js'), 'the entry point is there');
  t.same(files.filter((f) => /test|bench/.test(f)), [], 'no test or bench file');
});

t.test('scripts/prod-smoke.sh starts every subcommand and refuses a missing module or a stack trace', async (t) => {
  // Each subcommand of cli/commands.ts, in the form the smoke starts it.
  const commands = readFileSync(new URL('cli/commands.ts', root), 'utf8');
  const names = [...commands.matchAll(/^\s+'?([a-z-]+)'?: \{ summary:/gm)].map((m) => m[1] as string);
  t.ok(names.length >= 9, `found the subcommand table (${names.join(', ')})`);
  for (const name of names) t.match(smoke, new RegExp(`(-- |weft )${name}\\b`), `the smoke starts weft ${name}`);
  t.match(smoke, 'weft init --dry-run', 'weft init only as a dry run: the real one rewrites this machine\'s nat table');
  t.match(smoke, 'ERR_MODULE_NOT_FOUND', 'a missing module fails the smoke');
  t.match(smoke, "find dist -path '*test*' -o -path '*bench*'", 'dist/ is searched for test and bench files');
});

t.test('CI prints the wall time of npm test on its own line', async (t) => {
  t.match(ci, /echo "ci: npm test took \$\(\( \$\(date \+%s\) - test_start \)\) s"/);
  t.match(ci, /status=0\nnpm test \|\| status=\$\?/, 'printed even when the suite fails');
});
