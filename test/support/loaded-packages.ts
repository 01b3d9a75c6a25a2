// A `node --import` module for tests: on SIGUSR2 it writes the files of every CommonJS module
// loaded so far (npm packages are CommonJS here: yaml, prom-client, pino, @opentelemetry/api) to
// the path in WEFT_TEST_LOADED_MODULES_FILE, so a test can see what a process loaded at start.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const out = process.env.WEFT_TEST_LOADED_MODULES_FILE;
if (out) {
  const cache = createRequire(import.meta.url).cache;
  process.on('SIGUSR2', () => writeFileSync(out, JSON.stringify(Object.keys(cache))));
}
