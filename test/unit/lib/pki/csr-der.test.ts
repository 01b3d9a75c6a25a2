// The strict DER reader for CSRs against a corpus of malformed requests, each also shown to
// OpenSSL: every case refused with its CSR code, and OpenSSL refuses the same ones.
import t from 'tap';
import { checkCsrDer, csrPemToDer } from '../../../../lib/pki/csr-der.js';
import { parseCsr } from '../../../../lib/pki/authority.js';
import { isWeftError } from '../../../../lib/errors.js';
import { csrCorpus, opensslAccepts, toPem } from '../../../support/csr-corpus.js';

const { valid, cases } = await csrCorpus();

t.test('the valid request passes the strict reader, parseCsr and OpenSSL', async (t) => {
  t.doesNotThrow(() => checkCsrDer(valid));
  await t.resolves(parseCsr(toPem(valid)));
  const openssl = opensslAccepts(valid);
  if (!openssl) t.comment('openssl is not on this machine: OpenSSL comparison skipped');
  else t.ok(openssl.accepted, `openssl accepts the valid request: ${openssl.output}`);
});

t.test('every malformed request is refused with its CSR code, as PEM and as DER', async (t) => {
  t.ok(cases.length >= 25, `${cases.length} cases`);
  for (const c of cases) {
    for (const input of [toPem(c.der), new Uint8Array(c.der)]) {
      const err = await parseCsr(input).then(() => undefined, (e: unknown) => e);
      t.ok(isWeftError(err), `${c.name}: refused with a coded error`);
      t.match(err, { code: c.code }, `${c.name}: ${c.code} (${(err as Error | undefined)?.message ?? 'accepted'})`);
    }
  }
});

t.test('OpenSSL refuses the same cases, but for the BER framing it reads leniently', (t) => {
  const probe = opensslAccepts(valid);
  if (!probe) {
    t.comment('openssl is not on this machine: OpenSSL comparison skipped');
    t.end();
    return;
  }
  for (const c of cases) {
    const r = opensslAccepts(c.der);
    const said = (r?.output ?? '').split('\n')[0] ?? '';
    if (c.openssl === 'lenient') t.comment(`${c.name}: weft refuses; openssl ${r?.accepted ? 'accepts' : 'refuses'} it (${said})`);
    else t.equal(r?.accepted, c.openssl === 'accepts', `${c.name}: openssl ${c.openssl} it (${said})`);
  }
  t.end();
});

t.test('PEM must be one canonical block and nothing else', (t) => {
  const pem = toPem(valid);
  t.same(Buffer.from(csrPemToDer(pem)), valid);
  t.same(Buffer.from(csrPemToDer(pem.replace('CERTIFICATE REQUEST-----', 'NEW CERTIFICATE REQUEST-----').replace('END CERTIFICATE', 'END NEW CERTIFICATE'))), valid);
  const bad: Record<string, string> = {
    'no block': 'hello',
    'two blocks': pem + '\n' + pem,
    'text after the block': pem + '\ntrailing words',
    'not base64': '-----BEGIN CERTIFICATE REQUEST-----\nnot base64!\n-----END CERTIFICATE REQUEST-----',
    'empty block': '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----',
    'base64 with stray padding': pem.replace(/\n-----END/, '=\n-----END'),
  };
  for (const [what, text] of Object.entries(bad)) t.throws(() => csrPemToDer(text), { code: 'WEFT_ERR_CSR_MALFORMED' }, what);
  t.end();
});
