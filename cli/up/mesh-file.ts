// Parses the `weft up` mesh file (pure) and lays out its pods on loopback addresses.
import { parse as parseYaml } from 'yaml';
import { WeftError } from '../../lib/errors.js';
import { editDistance, parseHostPort, type HostPort } from '../../lib/config.js';
import { OUTBOUND_PORT } from '../../lib/ports.js';
import { meshAuthorization } from './authz-section.js';

/** A demo service of the mesh file. */
export interface MeshService {
  readonly name: string;
  readonly serviceAccount: string;
  readonly replicas: number;
  readonly port: number;
  readonly targetPort: number;
  /** Your own app: a shell command `weft up` runs (listening on 127.0.0.1:targetPort, PORT set). */
  readonly command?: string;
  /** Your own app, already running at this address; targetPort is its port. */
  readonly address?: HostPort;
}

/** The parsed mesh file. */
export interface MeshFile {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly caDir: string;
  readonly stateDir: string;
  /** First three octets of the pods' loopback addresses ("127.0.10"). */
  readonly addressBase: string;
  readonly client: { readonly serviceAccount: string; readonly outbound: HostPort };
  readonly services: readonly MeshService[];
  /** The edge gateway in front of the services, when the file has a `gateway` section. */
  readonly gateway?: MeshGateway;
  /** The `authorization` section (docs/policy.md), checked, for the endpoints file. */
  readonly authorization?: unknown;
}

/** The `gateway` section: where `weft gateway` listens and its route file. */
export interface MeshGateway {
  readonly http: HostPort;
  /** Route file path as written (relative to the mesh file). */
  readonly routes: string;
  readonly serviceAccount: string;
}

/** One pod to start: its address, identity and (for service pods) its app. */
export interface MeshPod {
  readonly name: string;
  readonly address: string;
  readonly serviceAccount: string;
  readonly service?: MeshService;
}

// `outbound: 7001` in YAML is a number; an object is shown as JSON in the problem it causes.
const hostPortText = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v));
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The fields each part of the mesh file may have; anything else is a slip and is refused. */
export const MESH_FIELDS = {
  top: ['trustDomain', 'namespace', 'caDir', 'stateDir', 'addressBase', 'client', 'services', 'gateway', 'authorization'],
  client: ['serviceAccount', 'outbound'],
  service: ['name', 'serviceAccount', 'replicas', 'port', 'targetPort', 'command', 'address'],
  gateway: ['http', 'routes', 'serviceAccount'],
} as const;

/** One problem per unknown key of `obj`, with the nearest known field when one is close. */
export function unknownFields(obj: unknown, known: readonly string[], at: string): string[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return [];
  const out: string[] = [];
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const k of known) {
      const d = editDistance(key.toLowerCase(), k.toLowerCase());
      if (d < bestDistance) [best, bestDistance] = [k, d];
    }
    const hint = best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? `; did you mean ${JSON.stringify(best)}?` : `; known fields: ${known.join(', ')}`;
    out.push(`${at}${key}: unknown field${hint}`);
  }
  return out;
}

/** Parses the mesh file text; every problem is listed at once (WEFT_ERR_MESH_FILE). */
export function parseMeshFile(text: string, source: string): MeshFile {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new WeftError('WEFT_ERR_MESH_FILE', `${source}: not YAML: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new WeftError('WEFT_ERR_MESH_FILE', `${source}: expected a mapping at the top`);
  }
  const d = doc as Record<string, unknown>;
  const problems: string[] = [...unknownFields(d, MESH_FIELDS.top, ''), ...unknownFields(d.client, MESH_FIELDS.client, 'client.')];
  const str = (key: string, fallback: string): string => {
    const v = d[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v === '') {
      problems.push(`${key}: expected a non-empty string`);
      return fallback;
    }
    return v;
  };
  const namespace = str('namespace', 'demo');
  if (!LABEL.test(namespace)) problems.push(`namespace: ${JSON.stringify(namespace)} is not a DNS-1123 label`);
  const addressBase = str('addressBase', '127.0.10');
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(addressBase)) problems.push(`addressBase: ${JSON.stringify(addressBase)} must be three octets in 127.0.0.0/8, like "127.0.10"`);
  const clientRaw = (d.client ?? {}) as Record<string, unknown>;
  const clientSa = typeof clientRaw.serviceAccount === 'string' ? clientRaw.serviceAccount : 'client';
  let outbound: HostPort = { host: '127.0.0.1', port: OUTBOUND_PORT };
  if (clientRaw.outbound !== undefined) {
    const parsed = parseHostPort(hostPortText(clientRaw.outbound), '127.0.0.1');
    if (typeof parsed === 'string') problems.push(`client.outbound: ${parsed}`);
    else outbound = parsed;
  }
  const services: MeshService[] = [];
  if (!Array.isArray(d.services) || d.services.length === 0) problems.push('services: expected a non-empty list');
  else
    d.services.forEach((raw: unknown, i: number) => {
      const s = (raw ?? {}) as Record<string, unknown>;
      const at = `services[${i}]`;
      problems.push(...unknownFields(s, MESH_FIELDS.service, `${at}.`));
      const name = typeof s.name === 'string' ? s.name : '';
      if (!LABEL.test(name)) problems.push(`${at}.name: ${JSON.stringify(s.name)} is not a DNS-1123 label`);
      if (services.some((x) => x.name === name)) problems.push(`${at}.name: ${name} is listed twice`);
      const replicas = s.replicas ?? 1;
      if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 50) problems.push(`${at}.replicas: expected an integer 0..50`);
      const port = s.port ?? 80;
      const targetPort = s.targetPort ?? 8080;
      for (const [k, v] of [['port', port], ['targetPort', targetPort]] as const) {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) problems.push(`${at}.${k}: expected a port number`);
      }
      const serviceAccount = typeof s.serviceAccount === 'string' ? s.serviceAccount : name;
      const own = ownApp(s, at, problems);
      services.push({ name, serviceAccount, replicas: Number(replicas), port: Number(port), targetPort: own.address?.port ?? Number(targetPort), ...own });
    });
  let gateway: MeshGateway | undefined;
  if (d.gateway !== undefined) {
    const g = (d.gateway ?? {}) as Record<string, unknown>;
    problems.push(...unknownFields(g, MESH_FIELDS.gateway, 'gateway.'));
    const http = parseHostPort(g.http === undefined || g.http === null ? '127.0.0.1:8080' : hostPortText(g.http), '127.0.0.1');
    if (typeof http === 'string') problems.push(`gateway.http: ${http}`);
    if (typeof g.routes !== 'string' || g.routes === '') problems.push('gateway.routes: expected the path of a route file');
    gateway = {
      http: typeof http === 'string' ? { host: '127.0.0.1', port: 8080 } : http,
      routes: typeof g.routes === 'string' ? g.routes : '',
      serviceAccount: typeof g.serviceAccount === 'string' ? g.serviceAccount : 'weft-gateway',
    };
  }
  let authorization: unknown;
  try {
    authorization = meshAuthorization(d.authorization, namespace, source);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const pods = 1 + services.reduce((n, s) => n + s.replicas, 0);
  if (pods > 250) problems.push(`${pods} pods do not fit in ${addressBase}.1-250`);
  if (problems.length > 0) throw new WeftError('WEFT_ERR_MESH_FILE', `${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  return {
    trustDomain: str('trustDomain', 'cluster.local'),
    namespace,
    caDir: str('caDir', '.weft/ca'),
    stateDir: str('stateDir', '.weft'),
    addressBase,
    client: { serviceAccount: clientSa, outbound },
    services,
    ...(gateway ? { gateway } : {}),
    ...(authorization !== undefined ? { authorization } : {}),
  };
}

// A service's own app: `command` (run by weft up) or `address` (run by you), one replica.
function ownApp(s: Record<string, unknown>, at: string, problems: string[]): { command?: string; address?: HostPort } {
  if (s.command === undefined && s.address === undefined) return {};
  if (s.command !== undefined && s.address !== undefined) problems.push(`${at}: command and address exclude each other (weft up runs your command, or you run the app at address)`);
  if ((s.replicas ?? 1) !== 1) problems.push(`${at}.replicas: a service with its own command or address has one replica`);
  if (s.command !== undefined) {
    if (typeof s.command !== 'string' || s.command.trim() === '') problems.push(`${at}.command: expected a shell command`);
    return typeof s.command === 'string' ? { command: s.command } : {};
  }
  const parsed = parseHostPort(hostPortText(s.address), '127.0.0.1');
  if (typeof parsed === 'string') {
    problems.push(`${at}.address: ${parsed}`);
    return {};
  }
  if (s.targetPort !== undefined && s.targetPort !== parsed.port) problems.push(`${at}.targetPort: ${JSON.stringify(s.targetPort)} differs from the port of address ${parsed.port}; leave targetPort out`);
  return { address: parsed };
}

/** Lays the pods out: the client at .1, then each service's replicas in order. */
export function layoutPods(mesh: MeshFile): MeshPod[] {
  const pods: MeshPod[] = [{ name: 'client', address: `${mesh.addressBase}.1`, serviceAccount: mesh.client.serviceAccount }];
  let next = 2;
  for (const service of mesh.services) {
    for (let i = 0; i < service.replicas; i++) {
      pods.push({ name: `${service.name}-${i}`, address: `${mesh.addressBase}.${next}`, serviceAccount: service.serviceAccount, service });
      next += 1;
    }
  }
  return pods;
}

/** The endpoints file (local mode) describing the mesh's services. */
export function endpointsFileFor(mesh: MeshFile, pods: readonly MeshPod[]): object {
  return {
    ...(mesh.authorization !== undefined ? { authorization: mesh.authorization } : {}),
    services: mesh.services.map((service) => ({
      name: service.name,
      namespace: mesh.namespace,
      ports: [{ port: service.port, targetPort: service.targetPort }],
      endpoints: pods
        .filter((p) => p.service?.name === service.name)
        .map((p) => ({
          address: p.address,
          identity: `spiffe://${mesh.trustDomain}/ns/${mesh.namespace}/sa/${p.serviceAccount}`,
          ready: true,
          podName: p.name,
        })),
    })),
  };
}
