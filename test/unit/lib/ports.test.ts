// The sidecar's fixed numbers are named once, in lib/ports.ts, and no production file repeats them.
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { ADMIN_PORT, INBOUND_PORT, OUTBOUND_PORT, PROXY_UID, SIDECAR_PORTS } from '../../../lib/ports.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const PRODUCTION_FOLDERS = ['lib', 'mesh', 'proxy', 'gateway', 'init', 'check', 'ca', 'destination', 'injector', 'cli'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const path = `${dir}/${e}`;
    return statSync(path).isDirectory() ? sources(path) : e.endsWith('.ts') ? [path] : [];
  });
}

t.test('the ports and UID are the ones DESIGN.md fixes', async (t) => {
  t.same([OUTBOUND_PORT, INBOUND_PORT, ADMIN_PORT, PROXY_UID], [7001, 7006, 7020, 7007]);
  t.same(SIDECAR_PORTS, { outbound: 7001, inbound: 7006, admin: 7020 });
});

t.test('no production code outside lib/ports.ts writes 7001, 7006, 7020 or 7007 as a literal (comments may name them)', async (t) => {
  const offenders: string[] = [];
  for (const file of PRODUCTION_FOLDERS.flatMap((d) => sources(`${ROOT}${d}`))) {
    if (file.endsWith('/lib/ports.ts')) continue;
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      const trimmed = line.trim();
      if (trimmed.startsWith('//') || trimmed.startsWith('*') || trimmed.startsWith('/*')) return;
      const code = line.replace(/\/\/.*$/, '');
      if (/\b(7001|7006|7020|7007)\b/.test(code)) offenders.push(`${file.slice(ROOT.length)}:${i + 1}: ${trimmed}`);
    });
  }
  t.same(offenders, []);
});
