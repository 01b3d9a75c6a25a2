import t from 'tap';
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
const smoke = readFileSync(new URL('scripts/prod-smoke.sh', root), 'utf8');
const tsconfig = JSON.parse(readFileSync(new URL('tsconfig.build.json', root), 'utf8')) as { include: string[] };

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
  t.match(readFileSync(new URL('.ci/run', root), 'utf8'), 'bash scripts/prod-smoke.sh', 'CI runs it');
});
