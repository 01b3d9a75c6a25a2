// dependency-cruiser: weft's layers (cli -> proxy/gateway/ca/destination/injector/init/check -> mesh -> lib), as rules `npm run lint` enforces.
/** The folders `npm run build` compiles (tsconfig.build.json). */
const PRODUCTION = '^(lib|mesh|proxy|gateway|init|check|ca|destination|injector|cli)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes load order matter and hides which module owns what: break it by moving the shared piece down a layer.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'proxy-not-to-gateway',
      severity: 'error',
      comment: 'The proxy and the gateway are peers on the mesh core: what both need belongs in mesh/ or lib/.',
      from: { path: '^proxy/' },
      to: { path: '^gateway/' },
    },
    {
      name: 'gateway-not-to-proxy',
      severity: 'error',
      comment: 'The proxy and the gateway are peers on the mesh core: what both need belongs in mesh/ or lib/.',
      from: { path: '^gateway/' },
      to: { path: '^proxy/' },
    },
    {
      name: 'mesh-stays-below-its-users',
      severity: 'error',
      comment: 'mesh/ is the core the proxy and the gateway share; it knows none of the components built on it.',
      from: { path: '^mesh/' },
      to: { path: '^(proxy|gateway|cli|ca|destination|injector|init|check)/' },
    },
    {
      name: 'lib-imports-no-project-folder',
      severity: 'error',
      comment: 'lib/ is the bottom layer: it imports only Node and packages.',
      from: { path: '^lib/' },
      to: { path: '^(mesh|proxy|gateway|init|check|ca|destination|injector|cli|test)/' },
    },
    {
      name: 'components-not-to-sidecar-or-cli',
      severity: 'error',
      comment: 'ca/, destination/, injector/, init/ and check/ sit beside the proxy and the gateway, under cli/: a shared need moves to mesh/ or lib/.',
      from: { path: '^(ca|destination|injector|init|check)/' },
      to: { path: '^(proxy|gateway|cli)/' },
    },
    {
      name: 'production-not-to-test',
      severity: 'error',
      comment: 'The production build holds no test code, so nothing it compiles may import test/.',
      from: { path: PRODUCTION },
      to: { path: '^test/' },
    },
    {
      name: 'production-not-to-dev-dependencies',
      severity: 'error',
      comment: 'The image installs with npm ci --omit=dev: a devDependency imported at run time fails there with ERR_MODULE_NOT_FOUND.',
      from: { path: PRODUCTION },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing fails at load time.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count for the layers: a type from above is still a dependency on above.
    tsPreCompilationDeps: true,
    // tsconfig.lint.json covers every TypeScript file, test/ included; `.js` specifiers resolve to the `.ts` sources.
    tsConfig: { fileName: 'tsconfig.lint.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'types', 'default'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
