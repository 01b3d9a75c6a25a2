// A Kubernetes-mode mesh for e2e tests: the test API server (in the test process), a real
// `weft ca` process, a real `weft destination` (the only reader of Services, EndpointSlices and
// Pods), and real `weft proxy` processes in kubernetes mode on their own loopback addresses, each
// with a projected-style token file and the trust anchors the CA published, and no API credentials.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApiServer, type KubeObject } from './test-apiserver.js';
import { WEFT_MAIN, get, podProxyEnv } from './local-mesh.js';

/** A pod of the test cluster. */
export interface KubePod {
  readonly name: string;
  readonly address: string;
  readonly serviceAccount: string;
  /** Its namespace when not the mesh's (startProxy only; register the Pod object yourself). */
  readonly namespace?: string;
}

/** A started process with its log. */
export interface KubeProcess {
  readonly child: ChildProcess;
  readonly admin: string;
  readonly log: () => Promise<string>;
  exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;
}

/** The mesh: API server, CA and proxies. */
export class KubeMesh {
  readonly api: TestApiServer;
  readonly dir: string;
  readonly namespace = 'shop';
  readonly #procs: KubeProcess[] = [];
  caUrl = '';
  rootsFile = '';
  #caAddress = '';
  /** The running `weft destination`, started by the first startProxy (or startDestination). */
  destination: KubeProcess | undefined;
  #destinationStart: Promise<KubeProcess> | undefined;
  /** host:port of its API. */
  destinationAddr = '';

  private constructor(api: TestApiServer, dir: string) {
    this.api = api;
    this.dir = dir;
  }

  static async create(): Promise<KubeMesh> {
    const api = await TestApiServer.start();
    const mesh = new KubeMesh(api, await mkdtemp(join(tmpdir(), 'weft-kube-')));
    // weft's CRDs as the chart installs them (crds.install): weft destination watches this one.
    api.addResource({ group: 'policy.weft.dev', version: 'v1alpha1', resource: 'authorizationpolicies', singular: 'authorizationpolicy', kind: 'AuthorizationPolicy', namespaced: true });
    api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'weft-system' } });
    api.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: mesh.namespace } });
    return mesh;
  }

  identity(serviceAccount: string): string {
    return `spiffe://cluster.local/ns/${this.namespace}/sa/${serviceAccount}`;
  }

  /** Writes a kubeconfig for a service account's API token (default audience). */
  async kubeconfigFor(namespace: string, serviceAccount: string, name: string): Promise<string> {
    const file = join(this.dir, `${name}.kubeconfig`);
    await writeFile(file, this.api.kubeconfig(this.api.issueToken({ namespace, serviceAccount, expiresAt: new Date(Date.now() + 3_600_000) }), namespace));
    return file;
  }

  #spawn(name: string, args: string[], env: Record<string, string>, admin: string): KubeProcess {
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [WEFT_MAIN, ...args], { env: { PATH: process.env.PATH ?? '', WEFT_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const proc: KubeProcess = {
      child,
      admin,
      log: () => readFile(logFile, 'utf8'),
      exitCode: undefined,
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    // exited only ever resolves (on the child's exit event); the handler is for the linter's sake.
    proc.exited.then((code) => (proc.exitCode = code), () => undefined);
    this.#procs.push(proc);
    return proc;
  }

  async #ready(proc: KubeProcess, what: string, timeoutMs = 40_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== undefined) throw new Error(`${what} exited with ${proc.exitCode}:\n${await proc.log()}`);
      const res = await get(`${proc.admin}/ready`).catch(() => undefined);
      if (res?.status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${what} not ready in ${timeoutMs} ms:\n${await proc.log()}`);
  }

  /**
   * Starts `weft ca` on `address` (8443 HTTPS, 7020 admin) and writes the roots it published;
   * with `wait: false` it returns at once (a CA that is meant not to become ready).
   */
  async startCa(address: string, env: Record<string, string> = {}, opts: { wait?: boolean } = {}): Promise<KubeProcess> {
    const proc = this.#spawn('weft-ca', ['ca'], {
      KUBECONFIG: await this.kubeconfigFor('weft-system', 'weft-ca', 'weft-ca'),
      WEFT_POD_NAMESPACE: 'weft-system',
      WEFT_CA_LISTEN_ADDR: `${address}:8443`,
      WEFT_ADMIN_ADDR: `${address}:7020`,
      WEFT_CA_ISSUER_DIR: join(this.dir, 'no-issuer-mounted'),
      WEFT_TRUST_ANCHORS_FILE: join(this.dir, 'no-roots-mounted.pem'),
      ...env,
    }, `http://${address}:7020`);
    if (opts.wait === false) return proc;
    await this.#ready(proc, 'weft ca');
    this.#caAddress = address;
    this.caUrl = `https://${address}:8443`;
    const cm = this.api.get('v1', 'ConfigMap', 'weft-system', 'weft-trust-anchors');
    const roots = (cm?.['data'] as Record<string, string> | undefined)?.['roots.pem'];
    if (!roots) throw new Error('weft ca published no trust anchors');
    this.rootsFile = join(this.dir, 'roots.pem');
    await writeFile(this.rootsFile, roots);
    return proc;
  }

  /**
   * Starts `weft destination` beside the CA (API on 8086, admin on 7021 of the same address) under
   * its own service account weft-system/weft-destination, and waits for /ready.
   */
  async startDestination(env: Record<string, string> = {}): Promise<KubeProcess> {
    if (!this.#caAddress) throw new Error('start the CA first: the destination gets its certificate from it');
    // A pod-bound token is only good while its pod exists.
    this.api.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'weft-destination-0', namespace: 'weft-system', labels: { app: 'weft-destination' } },
      spec: { serviceAccountName: 'weft-destination', containers: [{ name: 'destination', image: 'weft' }] },
      status: { phase: 'Running', podIP: this.#caAddress, podIPs: [{ ip: this.#caAddress }] },
    });
    const tokenFile = join(this.dir, 'weft-destination.token');
    await writeFile(tokenFile, this.api.issueToken({ namespace: 'weft-system', serviceAccount: 'weft-destination', audiences: ['weft-ca'], pod: { name: 'weft-destination-0' } }));
    const proc = this.#spawn('weft-destination', ['destination'], {
      KUBECONFIG: await this.kubeconfigFor('weft-system', 'weft-destination', 'weft-destination'),
      WEFT_POD_NAMESPACE: 'weft-system',
      WEFT_DESTINATION_LISTEN_ADDR: `${this.#caAddress}:8086`,
      WEFT_ADMIN_ADDR: `${this.#caAddress}:7021`,
      WEFT_CA_ADDR: this.caUrl,
      WEFT_TRUST_ANCHORS_FILE: this.rootsFile,
      WEFT_TOKEN_FILE: tokenFile,
      ...env,
    }, `http://${this.#caAddress}:7021`);
    await this.#ready(proc, 'weft destination');
    this.destination = proc;
    this.destinationAddr = `${this.#caAddress}:8086`;
    return proc;
  }

  /** Registers the Pod object (as the kubelet would report it); `meshed` adds the injector's annotation. */
  addPod(pod: KubePod & { readonly meshed?: boolean; readonly annotations?: Record<string, string> }): KubeObject {
    const annotations = { ...(pod.meshed === false ? {} : { 'weft.dev/injected': 'true' }), ...pod.annotations };
    return this.api.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod.name, namespace: this.namespace, labels: { app: pod.name.replace(/-\d+$/, '') }, annotations },
      spec: { serviceAccountName: pod.serviceAccount, containers: [{ name: 'app', image: 'echo', ports: [{ name: 'http', containerPort: 8080 }] }] },
      status: { phase: 'Running', podIP: pod.address, podIPs: [{ ip: pod.address }], conditions: [{ type: 'Ready', status: 'True' }] },
    });
  }

  /** A Service with a named target port, as a Deployment's Service usually is. */
  addService(name: string, port = 80): void {
    this.api.apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: this.namespace },
      spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 'http', protocol: 'TCP' }] },
    });
  }

  /**
   * Writes the service's one EndpointSlice (what the EndpointSlice controller would). `terminating`
   * marks a pod shutting down: not ready, still serving unless `ready: false` says otherwise.
   */
  setEndpoints(service: string, pods: readonly (KubePod & { ready?: boolean; terminating?: boolean })[], sliceName = `${service}-abcde`): void {
    this.api.apply({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: sliceName,
        namespace: this.namespace,
        labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: pods.map((p) => ({
        addresses: [p.address],
        conditions: p.terminating ? { ready: false, serving: p.ready ?? true, terminating: true } : { ready: p.ready ?? true, serving: p.ready ?? true, terminating: false },
        nodeName: 'node-1',
        targetRef: { kind: 'Pod', name: p.name, namespace: this.namespace, uid: this.api.get('v1', 'Pod', this.namespace, p.name)?.metadata.uid ?? '' },
      })),
    });
  }

  /**
   * Starts `weft proxy` in kubernetes mode for a pod and waits for /ready. It gets no API
   * credentials (no KUBECONFIG, no service-account token for the API): discovery comes from
   * `weft destination`, started here on first use. `wait: false` returns without waiting for /ready.
   */
  async startProxy(pod: KubePod, extraEnv: Record<string, string> = {}, opts: { wait?: boolean } = {}): Promise<KubeProcess> {
    // `WEFT_DESTINATION_ADDR: ''` in extraEnv: a proxy that watches the API server itself, with a
    // kubeconfig for its pod's service account (the API fault tests drive its watch loop).
    const direct = extraEnv['WEFT_DESTINATION_ADDR'] === '';
    if (!direct) {
      // Proxies started together share one destination.
      this.#destinationStart ??= this.startDestination();
      await this.#destinationStart;
    }
    const tokenFile = join(this.dir, `${pod.name}.token`);
    const namespace = pod.namespace ?? this.namespace;
    await writeFile(tokenFile, this.api.issueToken({ namespace, serviceAccount: pod.serviceAccount, audiences: ['weft-ca'], pod: { name: pod.name } }));
    const proc = this.#spawn(pod.name, ['proxy'], {
      WEFT_MODE: 'kubernetes',
      WEFT_DESTINATION_ADDR: this.destinationAddr,
      ...podProxyEnv({ name: pod.name, address: pod.address, namespace, serviceAccount: pod.serviceAccount }),
      WEFT_CA_ADDR: this.caUrl,
      // As the injector writes it: the PEM itself in the env; the file must not be needed.
      WEFT_TRUST_ANCHORS: await readFile(this.rootsFile, 'utf8'),
      WEFT_TRUST_ANCHORS_FILE: join(this.dir, 'no-roots-file-for-proxies.pem'),
      WEFT_TOKEN_FILE: tokenFile,
      ...(direct ? { KUBECONFIG: await this.kubeconfigFor(this.namespace, pod.serviceAccount, pod.name) } : {}),
      ...extraEnv,
    }, `http://${pod.address}:7020`);
    if (opts.wait === false) return proc;
    await this.#ready(proc, `proxy ${pod.name}`);
    return proc;
  }

  /** Starts `weft gateway` in kubernetes mode for a pod (HTTP on :8080, admin :7020) and waits for /ready (unless `wait: false`). */
  async startGateway(pod: KubePod, extraEnv: Record<string, string> = {}, opts: { wait?: boolean } = {}): Promise<KubeProcess> {
    const tokenFile = join(this.dir, `${pod.name}.token`);
    await writeFile(tokenFile, this.api.issueToken({ namespace: this.namespace, serviceAccount: pod.serviceAccount, audiences: ['weft-ca'], pod: { name: pod.name } }));
    const proc = this.#spawn(pod.name, ['gateway'], {
      WEFT_MODE: 'kubernetes',
      KUBECONFIG: await this.kubeconfigFor(this.namespace, pod.serviceAccount, pod.name),
      WEFT_POD_NAMESPACE: this.namespace,
      WEFT_SERVICE_ACCOUNT: pod.serviceAccount,
      WEFT_GATEWAY_HTTP_ADDR: `${pod.address}:8080`,
      WEFT_GATEWAY_HTTPS_ADDR: 'off',
      WEFT_ADMIN_ADDR: `${pod.address}:7020`,
      WEFT_GATEWAY_RELOAD_DEBOUNCE_MS: '20',
      WEFT_CA_ADDR: this.caUrl,
      WEFT_TRUST_ANCHORS_FILE: this.rootsFile,
      WEFT_TOKEN_FILE: tokenFile,
      ...extraEnv,
    }, `http://${pod.address}:7020`);
    if (opts.wait === false) return proc;
    await this.#ready(proc, `gateway ${pod.name}`);
    return proc;
  }

  /** Stops every process (SIGKILL after 5 s), the API server, and removes the temp dir. */
  async close(): Promise<void> {
    for (const p of this.#procs) if (p.exitCode === undefined) p.child.kill('SIGTERM');
    await Promise.all(
      this.#procs.map(async (p) => {
        const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
        await p.exited;
        clearTimeout(timer);
      }),
    );
    await this.api.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
