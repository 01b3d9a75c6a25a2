// `weft up --check`'s authorization lines: the demo apps refuse a forged caller header sent past
// their sidecar, and each service's first sidecar explains who may call /admin (docs/policy.md).
import http from 'node:http';
import type { Writable } from 'node:stream';
import { ADMIN_PORT } from '../../lib/ports.js';
import type { MeshFile, MeshPod } from './mesh-file.js';

/** Runs the checks and writes one line each; false when a check failed. */
export async function checkAuthz(out: Writable, mesh: MeshFile, pods: readonly MeshPod[]): Promise<boolean> {
  let ok = true;
  const id = (sa: string): string => `spiffe://${mesh.trustDomain}/ns/${mesh.namespace}/sa/${sa}`;
  for (const service of mesh.services) {
    // Your own app answers as it likes; the checks read the demo app's answer.
    if (service.command !== undefined || service.address !== undefined) continue;
    const pod = pods.find((p) => p.service?.name === service.name);
    if (!pod) continue;
    // Straight to the app, past the sidecar, claiming to be the client.
    const forged = await request(`http://${pod.address}:${service.targetPort}/check`, { 'weft-client-id': id(mesh.client.serviceAccount) });
    let caller: unknown = 'unreadable';
    try {
      caller = (JSON.parse(forged.body) as { caller: unknown }).caller;
    } catch {
      caller = 'unreadable';
    }
    const pass = forged.status === 200 && caller === null;
    ok &&= pass;
    out.write(`check ${service.name} app: ${pass ? 'ok' : 'FAILED'}: a weft-client-id sent past the sidecar is ignored (caller ${JSON.stringify(caller)})\n`);
    const explain = async (sa: string): Promise<string> => {
      const q = new URLSearchParams({ identity: id(sa), port: String(service.targetPort), method: 'GET', path: '/admin' });
      const res = await request(`http://${pod.address}:${ADMIN_PORT}/debug/authz?${q.toString()}`, {});
      try {
        const d = JSON.parse(res.body) as { allowed: boolean; policy: string; rule: number };
        return `${sa} ${d.allowed ? 'allowed' : 'denied'} by ${d.policy}${d.rule >= 0 ? ` rule ${d.rule}` : ''}`;
      } catch {
        ok = false;
        return `${sa} unknown (${res.status})`;
      }
    };
    out.write(`authz ${service.name}: GET /admin: ${await explain(mesh.client.serviceAccount)}; ${await explain('intruder')}\n`);
  }
  return ok;
}

function request(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((done) => {
    const req = http.get(url, { headers, timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done({ status: 0, body: '' }));
  });
}
