// Local mode's endpoint source: a YAML/JSON file of services and their endpoints, re-read when
// it changes. A bad new file is refused with a coded error and the last good one keeps serving.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { serviceKey, type AddressInfo, type AddressOwner, type Endpoint, type EndpointSource, type ServiceRef, type ServiceSnapshot } from './endpoint-source.js';
import { WeftError } from '../../lib/errors.js';
import { parseIdentity } from '../../lib/identity.js';
import type { Logger } from '../../lib/logger.js';
import { realTimers, type Timers } from '../../lib/timers.js';
import { WatchedFile } from '../../lib/watched-file.js';

/** One service port of the file, resolved to the target port. */
export interface LocalServicePort {
  readonly port: number;
  readonly targetPort: number;
  /** The port's appProtocol, as a Service would declare it (`kubernetes.io/h2c`, `grpc`). */
  readonly appProtocol?: string;
}

/** A service as the file describes it. */
export interface LocalService {
  readonly namespace: string;
  readonly name: string;
  readonly ports: readonly LocalServicePort[];
  readonly endpoints: readonly Omit<Endpoint, 'port'>[];
  /** The service's virtual IP, for captured traffic that dials it (no cluster routes it in local mode). */
  readonly clusterIP?: string;
  /** Service ports whose streams skip protocol detection (`config.weft.dev/opaque-ports`). */
  readonly opaquePorts?: readonly number[];
}

/** The parsed file. */
export interface EndpointsFile {
  readonly services: readonly LocalService[];
}

/**
 * Parses the endpoints file text (pure). Format:
 *   services:
 *     - { name: hello, namespace: demo, ports: [{ port: 80, targetPort: 8080, appProtocol: grpc }],
 *         endpoints: [{ address: 127.0.1.2, identity: spiffe://..., ready: true, podName: hello-0 }],
 *         clusterIP: 10.96.0.10, opaquePorts: [3306] }   (both optional)
 * Every problem is listed at once.
 */
export function parseEndpointsFile(text: string, source: string): EndpointsFile {
  let doc: unknown;
  try {
    doc = parseYamlOrJson(text);
  } catch (err) {
    throw new WeftError('WEFT_ERR_ENDPOINTS_FILE', `${source}: not YAML/JSON: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  const services: LocalService[] = [];
  const root = doc as { services?: unknown } | null;
  if (root === null || typeof root !== 'object' || !Array.isArray(root.services)) {
    throw new WeftError('WEFT_ERR_ENDPOINTS_FILE', `${source}: expected a top-level "services" list`);
  }
  const seen = new Set<string>();
  root.services.forEach((raw: unknown, i: number) => {
    const at = `services[${i}]`;
    const s = raw as Record<string, unknown> | null;
    if (s === null || typeof s !== 'object') {
      problems.push(`${at}: expected an object`);
      return;
    }
    const name = typeof s.name === 'string' ? s.name : '';
    const namespace = typeof s.namespace === 'string' ? s.namespace : 'default';
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) problems.push(`${at}.name: ${JSON.stringify(s.name)} is not a DNS-1123 label`);
    if (seen.has(`${namespace}/${name}`)) problems.push(`${at}: service ${namespace}/${name} is listed twice`);
    seen.add(`${namespace}/${name}`);
    const ports: LocalServicePort[] = [];
    if (!Array.isArray(s.ports) || s.ports.length === 0) problems.push(`${at}.ports: expected a non-empty list`);
    else
      s.ports.forEach((p: unknown, j: number) => {
        const port = (p as { port?: unknown }).port;
        const targetPort = (p as { targetPort?: unknown }).targetPort ?? port;
        if (!isPort(port)) problems.push(`${at}.ports[${j}].port: ${JSON.stringify(port)} is not a port number`);
        else if (!isPort(targetPort)) problems.push(`${at}.ports[${j}].targetPort: ${JSON.stringify(targetPort)} is not a port number`);
        else {
          const appProtocol = (p as { appProtocol?: unknown }).appProtocol;
          if (appProtocol !== undefined && typeof appProtocol !== 'string') problems.push(`${at}.ports[${j}].appProtocol: must be a string`);
          ports.push(typeof appProtocol === 'string' ? { port, targetPort, appProtocol } : { port, targetPort });
        }
      });
    const endpoints: Omit<Endpoint, 'port'>[] = [];
    const rawEndpoints = s.endpoints ?? [];
    if (!Array.isArray(rawEndpoints)) problems.push(`${at}.endpoints: expected a list`);
    else
      rawEndpoints.forEach((e: unknown, j: number) => {
        const ep = e as Record<string, unknown> | null;
        const where = `${at}.endpoints[${j}]`;
        if (ep === null || typeof ep !== 'object') {
          problems.push(`${where}: expected an object`);
          return;
        }
        if (typeof ep.address !== 'string' || !/^(\d{1,3}\.){3}\d{1,3}$|:/.test(ep.address)) {
          problems.push(`${where}.address: ${JSON.stringify(ep.address)} is not an IP address`);
          return;
        }
        if (typeof ep.identity !== 'string' || !parseIdentity(ep.identity)) {
          problems.push(`${where}.identity: ${JSON.stringify(ep.identity)} is not a spiffe://<td>/ns/<ns>/sa/<sa> identity`);
          return;
        }
        if (ep.ready !== undefined && typeof ep.ready !== 'boolean') {
          problems.push(`${where}.ready: expected true or false`);
          return;
        }
        endpoints.push({
          address: ep.address,
          identity: ep.identity,
          ready: ep.ready !== false,
          ...(typeof ep.podName === 'string' ? { podName: ep.podName } : {}),
        });
      });
    const extra: { clusterIP?: string; opaquePorts?: readonly number[] } = {};
    if (s.clusterIP !== undefined) {
      if (typeof s.clusterIP === 'string' && /^(\d{1,3}\.){3}\d{1,3}$|:/.test(s.clusterIP)) extra.clusterIP = s.clusterIP;
      else problems.push(`${at}.clusterIP: ${JSON.stringify(s.clusterIP)} is not an IP address`);
    }
    if (s.opaquePorts !== undefined) {
      if (Array.isArray(s.opaquePorts) && s.opaquePorts.every(isPort)) extra.opaquePorts = s.opaquePorts;
      else problems.push(`${at}.opaquePorts: expected a list of port numbers`);
    }
    services.push({ namespace, name, ports, endpoints, ...extra });
  });
  if (problems.length > 0) {
    throw new WeftError('WEFT_ERR_ENDPOINTS_FILE', `${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  }
  return { services };
}

/** The snapshot of one service port in a parsed file. */
export function snapshotFor(file: EndpointsFile, ref: ServiceRef): ServiceSnapshot {
  const service = file.services.find((s) => s.name === ref.name && s.namespace === ref.namespace);
  const port = service?.ports.find((p) => p.port === ref.port);
  if (!service || !port) return { ref, endpoints: undefined };
  const appProtocol = port.appProtocol;
  return { ref, endpoints: service.endpoints.map((e) => (appProtocol === undefined ? { ...e, port: port.targetPort } : { ...e, port: port.targetPort, appProtocol })) };
}

/**
 * The endpoint at `address` in a parsed file (pure): a service whose target port is `port` wins,
 * otherwise the first service listing the address; undefined when no service lists it.
 */
export function endpointByAddress(file: EndpointsFile, address: string, port: number): AddressOwner | undefined {
  let fallback: AddressOwner | undefined;
  for (const service of file.services) {
    const endpoint = service.endpoints.find((e) => e.address === address);
    if (!endpoint) continue;
    const servicePort = service.ports.find((p) => p.targetPort === port);
    const owner = {
      identity: endpoint.identity,
      ...(endpoint.podName ? { podName: endpoint.podName } : {}),
      service: { namespace: service.namespace, name: service.name, port: (servicePort ?? service.ports[0])?.port ?? port },
    };
    if (servicePort) return owner;
    fallback ??= owner;
  }
  return fallback;
}

/**
 * What the file says of an address an app dialled (pure): a service's `clusterIP` with a service
 * port `port`, else the pod at that address (every endpoint of the file is meshed), else unknown.
 */
export function addressInfoIn(file: EndpointsFile, address: string, port: number): AddressInfo {
  const service = file.services.find((s) => s.clusterIP === address && s.ports.some((p) => p.port === port));
  if (service) {
    const ref = { namespace: service.namespace, name: service.name, port };
    return service.opaquePorts ? { kind: 'service', service: ref, opaquePorts: service.opaquePorts } : { kind: 'service', service: ref };
  }
  const owner = endpointByAddress(file, address, port);
  if (!owner) return { kind: 'unknown' };
  const owning = file.services.find((s) => s.name === owner.service?.name && s.namespace === owner.service.namespace);
  // The pod's opaque ports are its target ports; the file lists them by service port.
  const targetPorts = owning?.opaquePorts?.map((p) => owning.ports.find((sp) => sp.port === p)?.targetPort ?? p);
  return { kind: 'pod', owner: targetPorts ? { ...owner, meshed: true, opaquePorts: targetPorts } : { ...owner, meshed: true } };
}

/** Watches an endpoints file and feeds subscribers full snapshots. */
export class LocalEndpointSource implements EndpointSource {
  readonly #log: Logger;
  readonly #watched: WatchedFile<string>;
  #file: EndpointsFile | undefined;
  readonly #subscribers = new Map<string, Set<(s: ServiceSnapshot) => void>>();
  readonly #refs = new Map<string, ServiceRef>();
  readonly #textListeners = new Set<(text: string) => void>();
  #text: string | undefined;

  constructor(path: string, log: Logger, timers: Timers = realTimers) {
    this.#log = log;
    this.#watched = new WatchedFile<string>({
      paths: [path],
      read: () =>
        readFile(path, 'utf8').catch((err: Error) => {
          throw new WeftError('WEFT_ERR_ENDPOINTS_FILE', `cannot read ${path}: ${err.message}`);
        }),
      same: (a, b) => a === b,
      apply: (text) => {
        this.#install(parseEndpointsFile(text, path));
        this.#text = text;
        for (const listener of this.#textListeners) listener(text);
      },
      onError: (err, stage) =>
        this.#log.warn(
          { code: 'WEFT_ERR_ENDPOINTS_FILE', err: (err as Error).message },
          stage === 'read' ? 'endpoints file unreadable; keeping the last good one' : 'endpoints file refused; keeping the last good one',
        ),
      onWatchError: (err) => this.#log.warn({ err: err.message }, 'endpoints file watch failed'),
      timers,
      // Coalesces the burst of events one replacement makes.
      debounceMs: 20,
    });
  }

  get synced(): boolean {
    return this.#file !== undefined;
  }

  /** The parsed file currently served (for reverse lookups by address). */
  get file(): EndpointsFile | undefined {
    return this.#file;
  }

  /**
   * Hands every accepted file's text to `listener` (now, if one is loaded): other sections of the
   * file (authorization policies) are parsed by their own modules. Returns the unsubscribe.
   */
  onText(listener: (text: string) => void): () => void {
    this.#textListeners.add(listener);
    if (this.#text !== undefined) listener(this.#text);
    return () => this.#textListeners.delete(listener);
  }

  endpointAt(address: string, port: number): AddressOwner | undefined {
    return this.#file ? endpointByAddress(this.#file, address, port) : undefined;
  }

  resolveAddress(address: string, port: number): Promise<AddressInfo> {
    return Promise.resolve(this.#file ? addressInfoIn(this.#file, address, port) : { kind: 'unknown' });
  }

  /** Loads the file once (throws when the first load fails) and starts watching it. */
  async start(): Promise<void> {
    await this.reload(true);
    this.#watched.start();
  }

  /** Re-reads the file; on failure keeps the last good one (or throws on the first load). */
  async reload(first: boolean): Promise<void> {
    if (first) await this.#watched.load();
    else await this.#watched.check();
  }

  #install(file: EndpointsFile): void {
    this.#file = file;
    this.#log.info({ services: file.services.length }, 'endpoints file loaded');
    for (const [key, listeners] of this.#subscribers) {
      const ref = this.#refs.get(key);
      if (!ref) continue;
      const snapshot = snapshotFor(file, ref);
      for (const listener of listeners) listener(snapshot);
    }
  }

  watch(ref: ServiceRef, onUpdate: (snapshot: ServiceSnapshot) => void): () => void {
    const key = serviceKey(ref);
    let listeners = this.#subscribers.get(key);
    if (!listeners) {
      listeners = new Set();
      this.#subscribers.set(key, listeners);
      this.#refs.set(key, ref);
    }
    listeners.add(onUpdate);
    if (this.#file) onUpdate(snapshotFor(this.#file, ref));
    return () => {
      listeners.delete(onUpdate);
      if (listeners.size === 0) {
        this.#subscribers.delete(key);
        this.#refs.delete(key);
      }
    };
  }

  async close(): Promise<void> {
    this.#watched.close();
    this.#subscribers.clear();
    this.#textListeners.clear();
  }
}

// JSON (what `weft up` writes) needs no YAML parser; the yaml package costs ~8 MB of RSS in
// every sidecar, so it is loaded only for a file that is not JSON.
/** Parses JSON, or YAML when the text is not JSON (loading the YAML parser only then). */
export function parseYamlOrJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const yaml = createRequire(import.meta.url)('yaml') as { parse(text: string): unknown };
    return yaml.parse(text);
  }
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 65535;
}
