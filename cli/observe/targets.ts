// Which proxies the observing commands read: in local mode, every sidecar `weft up` starts for a
// mesh file, found by laying the file's pods out exactly as `weft up` does.
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseMeshFile, layoutPods } from '../up/mesh-file.js';
import { WeftError } from '../../lib/errors.js';
import { ADMIN_PORT } from '../../lib/ports.js';

/** The mesh file `weft up` runs when given none. */
export const DEFAULT_MESH_FILE = fileURLToPath(new URL('../../../examples/local-mesh.yaml', import.meta.url));

/** One sidecar to read. */
export interface ProxyTarget {
  /** Pod name (`hello-0`, `client`). */
  readonly pod: string;
  /** The service the pod belongs to; `client` for the client pod. */
  readonly service: string;
  /** host:port of its admin listener (in Kubernetes mode, a description of the route to it). */
  readonly admin: string;
  /** GETs a path of its admin listener when it is not reached directly (Kubernetes mode: pods/proxy). */
  readonly read?: (path: string) => Promise<string>;
  /** Opens a stream to its admin listener's loopback (Kubernetes mode: a port-forward), for the tap. */
  readonly connect?: () => Promise<Duplex>;
}

/** The mesh's namespace and trust domain, for naming peers. */
export interface MeshNames {
  readonly namespace: string;
  readonly trustDomain: string;
}

/** Reads the mesh file and lists its sidecars (the gateway is not a sidecar and is left out). */
export async function meshTargets(file: string): Promise<{ names: MeshNames; targets: ProxyTarget[] }> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new WeftError('WEFT_ERR_MESH_FILE', `cannot read ${file}: ${err.message}`);
  });
  const mesh = parseMeshFile(text, file);
  const targets = layoutPods(mesh).map((p) => ({ pod: p.name, service: p.service?.name ?? p.name, admin: `${p.address}:${ADMIN_PORT}` }));
  return { names: { namespace: mesh.namespace, trustDomain: mesh.trustDomain }, targets };
}
