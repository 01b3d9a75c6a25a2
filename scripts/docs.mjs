// `npm run docs`: renders every component's settings table (cli/settings.ts, from the production
// build) into docs/sidecar-config.md between its markers. test/unit/docs fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderSettingsDoc } from '../dist/cli/settings.js';

const path = new URL('../docs/sidecar-config.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = renderSettingsDoc(before);
if (after !== before) writeFileSync(path, after);
process.stdout.write(after === before ? 'docs/sidecar-config.md is up to date\n' : 'docs/sidecar-config.md updated\n');
