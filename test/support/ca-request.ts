// Asks a `weft ca` for a certificate the way a sidecar does, for tests: a fresh P-256 key, a CSR
// (optionally asking for some identity), the token as bearer, the CA verified by `caPem`.
import { Agent, request } from 'node:https';
import { createCsr } from '../../lib/pki/authority.js';
import { generateKeyPair } from '../../lib/pki/crypto.js';

/** The CA's answer, parsed. */
export interface CaAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

/** POSTs a body to /v1/certificates (a CSR made here unless `rawBody` is given). */
export async function requestCertificate(opts: {
  url: string;
  caPem: string;
  token?: string;
  identityHint?: string;
  rawBody?: string;
  servername?: string;
  /** false: do not check the CA's serving certificate (a CA whose issuer has expired presents an expired one). */
  verify?: boolean;
  /** false: a new connection for this request alone, as a sidecar renewing makes. */
  agent?: false | Agent;
}): Promise<CaAnswer> {
  const body = opts.rawBody ?? JSON.stringify({ csr: await createCsr(await generateKeyPair(), opts.identityHint) });
  return new Promise((resolve, reject) => {
    const req = request(new URL('/v1/certificates', opts.url), {
      method: 'POST',
      ca: opts.caPem,
      ...(opts.verify === false ? { rejectUnauthorized: false } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
      ...(opts.agent !== undefined ? { agent: opts.agent } : {}),
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          parsed = { raw: text };
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
