// The layer rules of .dependency-cruiser.cjs, run through dependency-cruiser's API over small fixture trees.
import t from 'tap';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const root = fileURLToPath(new URL('../../', import.meta.url));
const options = await extractDepcruiseOptions(join(root, '.dependency-cruiser.cjs'));
const tsconfig = JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['*/**/*.ts'] });

/** Cruises a fixture tree (relative path -> source) with the project's rules; returns each violation as "rule: from -> to". */
async function violations(dir: string, folders: string[]): Promise<string[]> {
  const tsConfigFile = join(dir, 'tsconfig.json');
  const reported = await cruise(folders, { ...options, baseDir: dir, tsConfig: { fileName: tsConfigFile } }, undefined, { tsConfig: extractTSConfig(tsConfigFile) });
  const result = reported.output as ICruiseResult;
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
}

t.test('a proxy -> gateway import breaks the layers, while proxy -> mesh -> lib is allowed', async (t) => {
  const dir = t.testdir({
    'tsconfig.json': tsconfig,
    lib: { 'errors.ts': '// fixture\nexport const code = 1;\n' },
    mesh: { 'core.ts': "// fixture\nimport { code } from '../lib/errors.js';\nexport const core = code;\n" },
    gateway: { 'handler.ts': "// fixture\nimport { core } from '../mesh/core.js';\nexport const handler = core;\n" },
    proxy: {
      'ok.ts': "// fixture\nimport { core } from '../mesh/core.js';\nexport const ok = core;\n",
      'route.ts': "// fixture\nimport { handler } from '../gateway/handler.js';\nexport const route = handler;\n",
    },
  });
  t.same(await violations(dir, ['lib', 'mesh', 'gateway', 'proxy']), ['proxy-not-to-gateway: proxy/route.ts -> gateway/handler.ts']);
});

t.test('the gateway importing the proxy, mesh importing a component, lib importing mesh and ca importing cli are each refused', async (t) => {
  const dir = t.testdir({
    'tsconfig.json': tsconfig,
    lib: { 'up.ts': "// fixture\nimport { m } from '../mesh/m.js';\nexport const l = m;\n" },
    mesh: { 'm.ts': "// fixture\nimport { c } from '../ca/c.js';\nexport const m = c;\n" },
    ca: { 'c.ts': "// fixture\nimport { x } from '../cli/x.js';\nexport const c = x;\n" },
    cli: { 'x.ts': '// fixture\nexport const x = 1;\n' },
    proxy: { 'p.ts': '// fixture\nexport const p = 1;\n' },
    gateway: { 'g.ts': "// fixture\nimport { p } from '../proxy/p.js';\nexport const g = p;\n" },
  });
  t.same((await violations(dir, ['lib', 'mesh', 'ca', 'cli', 'proxy', 'gateway'])).sort(), [
    'components-not-to-sidecar-or-cli: ca/c.ts -> cli/x.ts',
    'gateway-not-to-proxy: gateway/g.ts -> proxy/p.ts',
    'lib-imports-no-project-folder: lib/up.ts -> mesh/m.ts',
    'mesh-stays-below-its-users: mesh/m.ts -> ca/c.ts',
  ]);
});

t.test('production code importing test/ and an import cycle are refused', async (t) => {
  const dir = t.testdir({
    'tsconfig.json': tsconfig,
    test: { support: { 'harness.ts': '// fixture\nexport const h = 1;\n' } },
    injector: {
      'a.ts': "// fixture\nimport { h } from '../test/support/harness.js';\nimport { b } from './b.js';\nexport const a = h + 1;\nexport const ab = b;\n",
      'b.ts': "// fixture\nimport { a } from './a.js';\nexport const b = (): number => a;\n",
    },
  });
  t.same((await violations(dir, ['injector', 'test'])).sort(), [
    // A cycle is reported once, at the first edge of it.
    'no-circular: injector/a.ts -> injector/b.ts',
    'production-not-to-test: injector/a.ts -> test/support/harness.ts',
  ]);
});

t.test('production code importing a devDependency at run time is refused; a type-only import of one is not', async (t) => {
  const dir = t.testdir({
    'tsconfig.json': tsconfig,
    'package.json': JSON.stringify({ name: 'fixture', type: 'module', devDependencies: { ws: '*' } }),
    // The real package, so dependency-cruiser resolves it as it does in the project.
    node_modules: { ws: t.fixture('symlink', join(root, 'node_modules', 'ws')) },
    proxy: {
      'runtime.ts': "// fixture\nimport { WebSocket } from 'ws';\nexport const socket = WebSocket;\n",
      'types.ts': "// fixture\nimport type { WebSocket } from 'ws';\nexport type Socket = WebSocket;\n",
    },
  });
  const found = await violations(dir, ['proxy']);
  t.equal(found.length, 1, found.join('\n'));
  t.match(found[0], /^production-not-to-dev-dependencies: proxy\/runtime\.ts -> .*node_modules\/ws\//);
});
