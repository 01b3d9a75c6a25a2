import t from 'tap';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, RETIRED_CODES, WeftError, isWeftError, type ErrorCode } from '../../../lib/errors.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

t.test('every live code is documented in docs/errors.md with its status', async (t) => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    t.ok(row, `${code} has a row`);
    const status = row?.split('|')[2]?.trim() ?? '';
    if (info.status === 0) t.match(status, /^-/, `${code} is not request-scoped`);
    else t.equal(status, String(info.status), `${code} documents status ${info.status}`);
  }
});

t.test('no documented code is missing from the table or reuses a retired one', async (t) => {
  const documented = [...doc.matchAll(/^\| `(WEFT_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
  for (const code of documented) t.ok(code && code in ERROR_CODES, `${code} exists in lib/errors.ts`);
  for (const code of RETIRED_CODES) t.notOk(code in ERROR_CODES, `${code} is retired`);
});

t.test('WeftError carries the code and the status of its row', async (t) => {
  const code: ErrorCode = 'WEFT_ERR_NO_ENDPOINTS';
  const err = new WeftError(code, 'orders has no ready endpoint');
  t.equal(err.status, 503);
  t.ok(isWeftError(err, 'WEFT_ERR_NO_ENDPOINTS'));
  t.notOk(isWeftError(err, 'WEFT_ERR_TIMEOUT'));
  t.notOk(isWeftError(new Error('x')));
});
