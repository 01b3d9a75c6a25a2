// The container image and its stand-in on CI (scripts/prod-smoke.sh): what they build, copy and run.
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

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

t.test('every stage is node:24 bookworm-slim pinned by an image-index digest whose source the Dockerfile names', async (t) => {
  const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1] ?? '';
  t.match(arg, /^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/, 'tag for readers, digest for the bytes');
  const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  t.same(froms, ['${NODE_IMAGE}', '${NODE_IMAGE}', '${NODE_IMAGE}'], 'no stage uses another base');
  const digest = arg.split('@')[1]?.slice('sha256:'.length, 'sha256:'.length + 8) ?? 'none';
  t.match(dockerfile, /docker-library\/repo-info/, 'says where the digest came from');
  t.match(dockerfile, /repos\/node\/remote\/24-bookworm-slim\.md at commit [0-9a-f]{40}/, 'the file and the commit it was read at');
  t.match(dockerfile, new RegExp(`node@sha256:${digest}`), 'the comment quotes the digest the ARG uses');
});

/** The build context Docker would send: every tracked or built file under the repository, minus .dockerignore. */
function dockerContext(): string[] {
  const patterns = readFileSync(new URL('.dockerignore', root), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  // Docker matches each pattern (Go filepath.Match, `**` for any depth) against the path and each
  // of its parent directories, in order, a `!` pattern taking a path back in.
  const rules = patterns.map((p) => {
    const keep = p.startsWith('!');
    const body = (keep ? p.slice(1) : p).replace(/^\/+|\/+$/g, '');
    const source = body
      .split('')
      .map((c, i, all) => (c === '*' ? (all[i + 1] === '*' || all[i - 1] === '*' ? (all[i - 1] === '*' ? '' : '.*') : '[^/]*') : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    return { keep, regex: new RegExp(`^${source}$`) };
  });
  const excluded = (path: string): boolean => {
    const parts = path.split('/');
    let out = false;
    for (const rule of rules) {
      for (let i = 1; i <= parts.length; i++) if (rule.regex.test(parts.slice(0, i).join('/'))) out = !rule.keep;
    }
    return out;
  };
  const files = readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(fileURLToPath(root), join(d.parentPath, d.name)))
    .filter((p) => !p.startsWith('node_modules/'));
  return files.filter((p) => !excluded(p));
}

t.test('the build context (.dockerignore applied) holds no test, bench or built file, and everything the Dockerfile copies', async (t) => {
  const context = dockerContext();
  t.ok(context.length > 100, `${context.length} files in the context`);
  t.same(context.filter((p) => /^(test|dist|dist-test|build|node_modules|coverage|\.tap|\.git)\//.test(p) || /(^|\/)bench\//.test(p)), [], 'no test/ (support and bench included), no local build');
  // Each source of a COPY without --from must reach the build, or `docker build` fails.
  const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] ?? '').split(' '));
  t.ok(sources.length >= 10, `${sources.length} COPY sources`);
  for (const source of sources) t.ok(context.some((p) => p === source || p.startsWith(`${source.replace(/\/$/, '')}/`)), `${source} is in the context`);
});
