// The production source folders, as tsconfig.build.json compiles them: the tests that scan the
// code (API calls, env names) walk these and nothing else.
export const PRODUCTION_FOLDERS = ['lib', 'mesh', 'proxy', 'gateway', 'init', 'check', 'ca', 'destination', 'injector', 'cli'] as const;
