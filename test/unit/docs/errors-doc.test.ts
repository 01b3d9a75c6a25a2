// docs/errors.md checked against the code: every code the code can raise has a row with its status,
// and every row names a live code (or sits under "Retired" and is listed as retired).
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { ERROR_CODES, RETIRED_CODES } from '../../../lib/errors.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const PRODUCTION_FOLDERS = ['lib', 'mesh', 'proxy', 'gateway', 'init', 'check', 'ca', 'destination', 'injector', 'cli'];
const doc = readFileSync(`${ROOT}docs/errors.md`, 'utf8');
const retiredAt = doc.indexOf('\n## Retired');
const live = retiredAt === -1 ? doc : doc.slice(0, retiredAt);
const retired = retiredAt === -1 ? '' : doc.slice(retiredAt);

/** Rows `| \`WEFT_ERR_X\` | status | ...` of a part of the doc: code -> status cell. */
function rows(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^\| `(WEFT_ERR_[A-Z0-9_]+)` \| ([^|]*)\|/gm)) out.set(m[1] as string, (m[2] as string).trim());
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const path = `${dir}/${e}`;
    return statSync(path).isDirectory() ? sources(path) : e.endsWith('.ts') ? [path] : [];
  });
}

t.test('every code in the error table has a row in docs/errors.md with its status', async (t) => {
  const documented = rows(live);
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    const status = documented.get(code);
    t.ok(status !== undefined, `${code} has a row`);
    if (info.status === 0) t.match(status ?? '', /^-/, `${code} is not request-scoped`);
    else t.equal(status, String(info.status), `${code} documents status ${info.status}`);
  }
});

t.test('every documented code is one the code defines, and retired codes stay retired', async (t) => {
  for (const code of rows(live).keys()) t.ok(code in ERROR_CODES, `${code} is defined in lib/errors.ts`);
  for (const code of rows(retired).keys()) {
    t.ok(RETIRED_CODES.includes(code), `${code} under "Retired" is listed in RETIRED_CODES`);
    t.notOk(code in ERROR_CODES, `${code} is not live again`);
  }
  for (const code of RETIRED_CODES) t.ok(rows(retired).has(code), `retired ${code} stays documented under "Retired"`);
});

t.test('every WEFT_ERR_* the production code names is a defined code', async (t) => {
  const named = new Set<string>();
  for (const file of PRODUCTION_FOLDERS.flatMap((d) => sources(`${ROOT}${d}`))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bWEFT_ERR_[A-Z0-9_]*[A-Z0-9]\b/g)) named.add(m[0]);
  }
  t.ok(named.size > 30, `${named.size} codes named in the code`);
  for (const code of named) t.ok(code in ERROR_CODES, `${code} (named in the code) is in lib/errors.ts, so it is documented`);
});
