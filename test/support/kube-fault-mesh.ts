// A small Kubernetes-mode mesh for the API-fault e2e tests: the test API server (in this process,
// so tests inject its faults and read its request log), a real `weft ca`, a client `weft proxy`
// and two hello pods (echo app + proxy) behind the Service `hello`.
import http from 'node:http';
import { KubeMesh, type KubePod, type KubeProcess } from './kube-mesh.js';
import { get, randomBase } from './local-mesh.js';
import { startEchoApp, type EchoApp } from './echo-app.js';
import type { RequestRecord } from './test-apiserver.js';

/** The running mesh and what the fault tests do with it. */
export interface FaultMesh {
  readonly mesh: KubeMesh;
  readonly client: KubeProcess;
  readonly hello: readonly [KubePod, KubePod];
  /** One request to hello through the client sidecar: the pod that answered (or the failure). */
  call(): Promise<string>;
  /** Calls until every answer for `stableCalls` calls in a row comes from `pod`; the ms it took. Throws after `timeoutMs`. */
  untilOnly(pod: string, timeoutMs: number, stableCalls?: number): Promise<number>;
  /** The pods of hello's endpoints in the client proxy's /debug/endpoints, sorted. */
  endpointPods(): Promise<string[]>;
  /** Polls endpointPods() until it is exactly `pods`; the ms it took. Throws after `timeoutMs`. */
  untilEndpoints(pods: readonly string[], timeoutMs: number): Promise<number>;
  /** The client proxy's requests for hello's EndpointSlices from log index `from` on, by verb. */
  sliceRequests(verb: 'list' | 'watch', from?: number): RequestRecord[];
  close(): Promise<void>;
}

/**
 * Starts the mesh; `clientEnv` is the client proxy's extra settings. Without `helloProxies` the
 * hello pods get no sidecar (faster to start): tests then judge by /debug/endpoints, not traffic.
 */
export async function startFaultMesh(clientEnv: Record<string, string> = {}, helloProxies = true): Promise<FaultMesh> {
  const base = randomBase();
  const client: KubePod = { name: 'client-0', address: `${base}.10`, serviceAccount: 'client' };
  const hello: [KubePod, KubePod] = [
    { name: 'hello-0', address: `${base}.21`, serviceAccount: 'hello' },
    { name: 'hello-1', address: `${base}.22`, serviceAccount: 'hello' },
  ];
  const mesh = await KubeMesh.create();
  const apps: EchoApp[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const close = async (): Promise<void> => {
    agent.destroy();
    await mesh.close();
    await Promise.all(apps.map((a) => a.close()));
  };
  try {
    await mesh.startCa(`${base}.1`);
    for (const pod of [client, ...hello]) mesh.addPod(pod);
    mesh.addService('hello');
    mesh.setEndpoints('hello', [hello[0]]);
    if (helloProxies) for (const pod of hello) apps.push(await startEchoApp({ pod: pod.name, address: pod.address, port: 8080 }));
    // Every proxy here watches the API server itself (no weft destination): the faults are aimed at
    // the client proxy's watch loop, the same WatchLoop weft destination and the gateway run.
    const direct = { WEFT_DESTINATION_ADDR: '' };
    const [clientProxy] = await Promise.all([mesh.startProxy(client, { ...direct, ...clientEnv }), ...(helloProxies ? hello.map((pod) => mesh.startProxy(pod, direct)) : [])]);
    if (!clientProxy) throw new Error('no client proxy');
    const call = async (): Promise<string> => {
      const res = await get(`http://${client.address}:7001/who`, { host: 'hello' }, agent).catch((err: Error) => ({ status: 0, headers: { 'weft-error': `unreachable: ${err.message}` }, body: '' }));
      if (res.status !== 200) return `status ${res.status} ${String(res.headers['weft-error'] ?? '')}`;
      return (JSON.parse(res.body) as { pod: string }).pod;
    };
    const untilOnly = async (pod: string, timeoutMs: number, stableCalls = 10): Promise<number> => {
      const started = Date.now();
      let run = 0;
      while (Date.now() - started < timeoutMs) {
        run = (await call()) === pod ? run + 1 : 0;
        if (run >= stableCalls) return Date.now() - started;
      }
      throw new Error(`not only ${pod} within ${timeoutMs} ms`);
    };
    const endpointPods = async (): Promise<string[]> => {
      const debug = JSON.parse((await get(`${clientProxy.admin}/debug/endpoints`)).body) as { services?: { service?: string; endpoints?: { pod?: string }[] }[] };
      const svc = debug.services?.find((s) => s.service?.includes('hello'));
      return (svc?.endpoints ?? []).map((e) => e.pod ?? '?').sort();
    };
    const untilEndpoints = async (pods: readonly string[], timeoutMs: number): Promise<number> => {
      const started = Date.now();
      const want = [...pods].sort().join();
      while (Date.now() - started < timeoutMs) {
        if ((await endpointPods()).join() === want) return Date.now() - started;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`hello's endpoints not ${want} within ${timeoutMs} ms (last: ${(await endpointPods()).join()})`);
    };
    const slicePath = `/apis/discovery.k8s.io/v1/namespaces/${mesh.namespace}/endpointslices`;
    const sliceRequests = (verb: 'list' | 'watch', from = 0): RequestRecord[] =>
      mesh.api.requestLog.slice(from).filter((r) => r.verb === verb && r.path === slicePath);
    return { mesh, client: clientProxy, hello, call, untilOnly, endpointPods, untilEndpoints, sliceRequests, close };
  } catch (err) {
    await close();
    throw err;
  }
}
