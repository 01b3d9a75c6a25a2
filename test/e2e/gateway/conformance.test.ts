// The upstream Gateway API HTTPRoute conformance tests (kubernetes-sigs/gateway-api, the commit in
// test/fixtures/gateway-api/README.md), replayed against one real `weft gateway` in local mode:
// the base manifests' Gateways and Services plus each test's manifests as the route file, swapped
// per test; echo-basic-like backends in the suite's three namespaces, each behind a real `weft
// proxy`; every case sent as upstream's roundtripper sends it and judged as CompareRoundTrip
// judges it; the status-only expectations checked against GET /debug/status. The features weft
// declares supported (and the reasons for the others) are read from docs/gateway.md's Conformance
// section, which this test checks.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { stringify } from 'yaml';
import WebSocket from 'ws';
import { GatewayMesh, WEFT_MAIN, type GatewayProc } from '../../support/gateway-mesh.js';
import { podProxyEnv } from '../../support/local-mesh.js';
import { makeWebCa } from '../../support/web-pki.js';
import { startEchoBasic, type EchoBasicServer, type EchoSeen } from '../../support/echo-basic.js';
import {
  compareRoundTrip,
  loadFixtures,
  parseLocation,
  readDeclared,
  readManifest,
  wireRequest,
  type ConformanceCase,
  type ConformanceTest,
  type KubeObject,
  type RoundTrip,
} from '../../support/conformance-replay.js';
import { checkStatus, type ObjectStatusJson } from '../../support/conformance-status.js';
import { replayGrpc, startGrpcEcho, type GrpcCase } from '../../support/grpc-echo-basic.js';

const fixtures = loadFixtures();
const DOC = new URL('../../../docs/gateway.md', import.meta.url);

// The kinds the route file reads; the rest of a manifest (Deployments, ...) is the cluster's business.
const FILE_KINDS = new Set(['Namespace', 'Gateway', 'HTTPRoute', 'ReferenceGrant', 'Service', 'Secret', 'ConfigMap']);
const BACKENDS = [
  { namespace: 'gateway-conformance-infra', service: 'infra-backend-v1' },
  { namespace: 'gateway-conformance-infra', service: 'infra-backend-v2' },
  { namespace: 'gateway-conformance-infra', service: 'infra-backend-v3' },
  { namespace: 'gateway-conformance-app-backend', service: 'app-backend-v1' },
  { namespace: 'gateway-conformance-app-backend', service: 'app-backend-v2' },
  { namespace: 'gateway-conformance-web-backend', service: 'web-backend' },
];

interface Listener {
  readonly gateway: string;
  readonly port: number;
  readonly scheme: 'http' | 'https';
}

/** HTTP and HTTPS listeners of a Gateway object: namespace/name, port and scheme. */
function gatewayListeners(o: KubeObject): Listener[] {
  const ls = (o.spec?.listeners ?? []) as { port?: number; protocol?: string }[];
  return ls
    .filter((l) => (l.protocol === 'HTTP' || l.protocol === 'HTTPS') && typeof l.port === 'number')
    .map((l) => ({ gateway: `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}`, port: l.port ?? 0, scheme: l.protocol === 'HTTPS' ? 'https' : 'http' }));
}

t.test('the upstream HTTPRoute conformance cases pass for every declared feature', async (t) => {
  const started = Date.now();
  const declared = readDeclared(readFileSync(DOC, 'utf8'));
  // The suite creates this Secret at start (MustCreateSelfSignedCertSecret, hosts *, *.org,
  // *.wildcard.org); so does the replay, with a CA it trusts.
  const webCa = await makeWebCa('gateway-conformance');
  const serverCert = await webCa.server(['*', '*.org', '*.wildcard.org']);
  const base: KubeObject[] = [
    ...readManifest('base/manifests.yaml'),
    { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'tls-validity-checks-certificate', namespace: 'gateway-conformance-infra' }, stringData: { 'tls.crt': serverCert.certPem, 'tls.key': serverCert.keyPem } },
  ];
  const mesh = await GatewayMesh.create();
  const children: ChildProcess[] = [];
  const echoes: EchoBasicServer[] = [];
  t.teardown(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r))));
    await Promise.all(echoes.map((e) => e.close()));
    await mesh.close();
  });

  // Backends: one echo pod per base Service, behind its own sidecar; ports as the base Services say.
  const seen: EchoSeen[] = [];
  const services: { name: string; namespace: string; ports: { port: number; targetPort: number }[]; endpoints: unknown[] }[] = [];
  const stops: (() => Promise<void>)[] = [];
  t.teardown(() => Promise.all(stops.map((s) => s())));
  /** Starts each backend's app (`app`) and sidecar, writes them to the endpoints file, waits for the sidecars. */
  const addPods = async (list: readonly { namespace: string; service: string }[], app: (pod: { namespace: string; service: string; pod: string; address: string }, h2c: boolean) => Promise<void>): Promise<void> => {
    const ready: string[] = [];
    for (const b of list) {
      const address = mesh.address();
      const pod = `${b.service}-7d9f8c6b5-x${children.length}`;
      const svc = base.find((o) => o.kind === 'Service' && o.metadata?.name === b.service && o.metadata.namespace === b.namespace);
      const ports = ((svc?.spec?.ports ?? []) as { port: number; targetPort: number }[]).map((p) => ({ port: p.port, targetPort: p.targetPort }));
      await app({ namespace: b.namespace, service: b.service, pod, address }, ports.some((p) => p.targetPort === 3001));
      services.push({ name: b.service, namespace: b.namespace, ports, endpoints: [{ address, identity: `spiffe://cluster.local/ns/${b.namespace}/sa/${b.service}`, ready: true, podName: pod }] });
      const fd = openSync(join(mesh.dir, `proxy-${pod}.log`), 'a');
      const env = { PATH: process.env.PATH ?? '', WEFT_MODE: 'local', ...podProxyEnv({ name: pod, address, namespace: b.namespace, serviceAccount: b.service }), WEFT_CA_DIR: mesh.caDir, WEFT_ENDPOINTS_FILE: mesh.endpointsFile, WEFT_LOG_LEVEL: 'warn' };
      children.push(spawn(process.execPath, [WEFT_MAIN, 'proxy'], { env, stdio: ['ignore', fd, fd] }));
      closeSync(fd);
      ready.push(`http://${address}:7020/ready`);
    }
    await writeFile(`${mesh.endpointsFile}.tmp`, JSON.stringify({ services }));
    await rename(`${mesh.endpointsFile}.tmp`, mesh.endpointsFile);
    for (const url of ready) {
      const deadline = Date.now() + 20_000;
      while (!(await fetch(url).then((r) => r.ok, () => false))) {
        if (Date.now() > deadline) throw new Error(`sidecar not ready: ${url}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  await addPods(BACKENDS, async (pod, h2c) => {
    echoes.push(await startEchoBasic({ ...pod, port: 3000, ...(h2c ? { h2cPort: 3001 } : {}) }, seen));
  });

  // One dedicated socket per HTTP listener port of every Gateway any test names, so Gateways
  // sharing a port stay apart (upstream gives each Gateway its own address).
  const httpTests = fixtures.tests.filter((x) => !x.shortName.startsWith('GRPC'));
  const grpcTests = fixtures.tests.filter((x) => x.shortName.startsWith('GRPC'));
  const manifestsOf = (x: ConformanceTest): KubeObject[] => x.manifests.flatMap((m) => readManifest(m));
  const listeners = new Map<string, Listener>();
  for (const o of [...base, ...fixtures.tests.flatMap(manifestsOf)]) if (o.kind === 'Gateway') for (const l of gatewayListeners(o)) listeners.set(`${l.scheme}:${l.port}:${l.gateway}`, l);
  const gwAddress = mesh.address();
  const routesFile = join(mesh.dir, 'routes.yaml');
  const fileOf = (objs: KubeObject[]): string => objs.filter((o) => FILE_KINDS.has(o.kind ?? '') || o.kind === 'GRPCRoute').map((o) => stringify(o)).join('---\n');
  await writeFile(routesFile, fileOf(base));
  const gw: GatewayProc = await mesh.startGateway(routesFile, {
    WEFT_GATEWAY_LISTENER_ADDRS: [...listeners.keys()].map((k) => `${k}=${gwAddress}:0`).join(','),
    WEFT_GATEWAY_HTTPS_ADDR: 'off',
  });
  t.comment(`mesh and gateway up (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const socketOf = (gateway: string, port: number, scheme = 'http'): number | undefined => gw.listeners.get(`${scheme}:${port}:${gateway}`);

  const statuses = async (): Promise<ObjectStatusJson[]> => (JSON.parse(await (await fetch(`${gw.admin}/debug/status`)).text()) as { statuses: ObjectStatusJson[] }).statuses;
  let generation = 0;
  /** Waits until the gateway serves exactly this file's routes (the reload is asynchronous). */
  const applied = async (objs: KubeObject[]): Promise<ObjectStatusJson[]> => {
    const want = objs.filter((o) => o.kind === 'HTTPRoute').map((o) => `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}@${o.metadata?.generation ?? ''}`).sort().join(',');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const st = await statuses();
      const got = st.filter((s) => s.kind === 'HTTPRoute').map((s) => `${s.namespace}/${s.name}@${s.generation ?? ''}`).sort().join(',');
      // Every object carries the load's generation, so a stale status shows an older one.
      if (got === want && st.every((s) => s.generation === undefined || s.generation === generation)) return st;
      if (Date.now() > deadline) throw new Error(`route file not applied: want ${want}, got ${got}\n${await gw.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const roundTrip = async (c: ConformanceCase, gatewayName: string): Promise<{ diff: string | undefined; rt?: RoundTrip }> => {
    const req = wireRequest(c);
    const scheme = c.call?.startsWith('MakeTLS') ? 'https' : 'http';
    const gwListeners = [...listeners.values()].filter((l) => l.gateway === gatewayName && l.scheme === scheme).map((l) => l.port);
    const hostPort = /:(\d+)$/.exec(req.host)?.[1];
    const usual = scheme === 'https' ? 443 : 80;
    const port = hostPort && gwListeners.includes(Number(hostPort)) ? Number(hostPort) : gwListeners.includes(usual) ? usual : (gwListeners[0] ?? usual);
    const socket = socketOf(gatewayName, port, scheme);
    if (socket === undefined) return { diff: `no ${scheme} socket for ${gatewayName} port ${port}` };
    // Upstream's gwAddr carries the listener port unless it is the scheme's own; the Host is that address unless the case sets one.
    const host = req.host || (port === usual ? gwAddress : `${gwAddress}:${port}`);
    const rt =
      req.protocol === 'H2C_PRIOR_KNOWLEDGE' || (req.protocol === 'H2' && scheme === 'https')
        ? await h2RoundTrip(`${scheme}://${gwAddress}:${socket}`, host, req.method, req.path, req.headers, scheme === 'https' ? { servername: c.serverName ?? '', ca: webCa.caPem } : undefined)
        : await h1RoundTrip(gwAddress, socket, host, req, scheme === 'https' ? { servername: c.serverName ?? '', ca: webCa.caPem } : undefined);
    return { diff: compareRoundTrip(c, req, rt), rt };
  };

  /** Writes `objs` as the route file, every HTTPRoute and Gateway at a new generation, and waits for it. */
  const load = async (objs: KubeObject[]): Promise<ObjectStatusJson[]> => {
    generation++;
    const stamped = objs.map((o) => (o.kind === 'HTTPRoute' || o.kind === 'Gateway' ? { ...o, metadata: { ...o.metadata, generation } } : o));
    await writeFile(`${routesFile}.tmp`, fileOf(stamped));
    await rename(`${routesFile}.tmp`, routesFile);
    return applied(stamped);
  };

  const report: string[] = [];
  const failures: string[] = [];
  const failing = new Map<string, string[]>();
  const notReplayed = new Map<string, string[]>();
  let passed = 0;
  let replayed = 0;
  const only = process.env.CONFORMANCE_ONLY;
  for (const test of httpTests.filter((x) => !only || x.shortName === only)) {
    const missing = test.features.filter((f) => !declared.supported.has(f));
    for (const f of missing) if (!declared.unsupported.has(f)) failures.push(`${test.shortName}: feature ${f} is neither supported nor listed unsupported in docs/gateway.md`);
    const statusOnly = STATUS_ONLY[test.shortName];
    if (missing.length > 0 && !(statusOnly && missing.every((f) => statusOnly.includes(f)))) {
      report.push(`unsupported ${test.shortName} (${test.cases.length} cases): ${missing.map((f) => `${f}: ${declared.unsupported.get(f) ?? '?'}`).join('; ')}`);
      continue;
    }
    const objs = [...base, ...manifestsOf(test)];
    let st = await load(objs);
    const testFailures: string[] = [];
    const skipped: string[] = test.unreadable.map((u) => `${u.what}: ${u.reason}`);
    for (const check of test.statusChecks) {
      const diff = checkStatus(check, st);
      if (diff) testFailures.push(`status ${check.check} (line ${check.line}): ${diff}`);
    }
    if (test.shortName === 'HTTPRouteObservedGenerationBump') {
      // Transcribed from the test's code: it patches the route's first backendRef to
      // infra-backend-v2 and expects the conditions at the new generation.
      const next = objs.map((o) => {
        if (o.kind !== 'HTTPRoute' || o.metadata?.name !== 'observed-generation-bump') return o;
        const bumped = JSON.parse(JSON.stringify(o)) as KubeObject;
        const rule = (bumped.spec?.rules as { backendRefs?: { name: string }[] }[] | undefined)?.[0]?.backendRefs?.[0];
        if (rule) rule.name = 'infra-backend-v2';
        return bumped;
      });
      st = await load(next);
      for (const check of test.statusChecks) {
        const diff = checkStatus(check, st, generation);
        if (diff) testFailures.push(`status after the generation bump ${check.check} (line ${check.line}): ${diff}`);
      }
    }
    if (test.shortName === 'HTTPRouteBackendProtocolWebSocket') {
      // Transcribed from the test's code (httproute-backend-protocol-websocket.go:60-105): dial
      // ws://<gateway>/ws, a text frame and a binary frame must come back unchanged.
      replayed++;
      const socket = socketOf('gateway-conformance-infra/same-namespace', 80);
      const diff = socket === undefined ? 'no socket for same-namespace' : await wsEcho(`ws://${gwAddress}:${socket}/ws`, gwAddress, `ws://gateway/${test.shortName}`);
      if (diff) testFailures.push(`WebSocket echo: ${diff}`);
      else passed++;
      const at = skipped.findIndex((x) => x.includes('requests: the test builds'));
      if (at >= 0) skipped.splice(at, 1);
    }
    for (const [i, c0] of test.cases.entries()) {
      const step = STEPS[test.shortName];
      if (step && i === step.beforeCase) st = await load(objs.filter((o) => !(o.kind === step.remove.kind && o.metadata?.namespace === step.remove.namespace && o.metadata.name === step.remove.name)));
      replayed++;
      const gatewayName = c0.gateway ?? 'gateway-conformance-infra/same-namespace';
      // The mirror tests add a request id so each mirrored request is told apart (upstream does too).
      const id = `rid${i}x${generation}`;
      const c: ConformanceCase = c0.MirroredTo ? withRequestId(c0, id) : c0;
      // Eventually consistent, as upstream's AwaitConvergence: retry a failing case briefly.
      let last: string | undefined;
      const deadline = Date.now() + 1500;
      for (;;) {
        try {
          last = (await roundTrip(c, gatewayName)).diff;
        } catch (e) {
          last = `request failed: ${(e as Error).message}`;
        }
        if (!last && c.MirroredTo) last = await mirrored(seen, c, id);
        if (!last || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (last) testFailures.push(`case ${i} ${c.TestCaseName ?? `${c.Request.Method ?? 'GET'} ${c.Request.Host ?? ''}${c.Request.Path ?? ''}`} (line ${c.line}): ${last}`);
      else passed++;
    }
    if (skipped.length > 0) notReplayed.set(test.shortName, skipped);
    if (testFailures.length > 0) failing.set(test.shortName, testFailures);
    const head = testFailures.length === 0 ? 'pass' : declared.knownFailures.has(test.shortName) ? 'KNOWN FAILURE' : 'FAIL';
    report.push(`${head} ${test.shortName} (${test.cases.length} cases, ${test.statusChecks.length} status checks)${testFailures.map((f) => `\n    ${f}`).join('')}${skipped.map((f) => `\n    not replayed: ${f}`).join('')}`);
  }
  t.comment(`gateway-api ${fixtures.commit}, ${((Date.now() - started) / 1000).toFixed(1)} s\n${report.join('\n')}`);
  t.same(failures, [], 'every feature a test names is declared supported or unsupported');
  const unexpected = [...failing].filter(([name]) => !declared.knownFailures.has(name)).map(([name, f]) => `${name}: ${f.join('; ')}`);
  t.same(unexpected, [], 'every case and status check of every declared-supported test passes (but the known failures)');
  const summary = `${passed} of ${replayed} replayed cases pass`;
  if (only) t.comment(`CONFORMANCE_ONLY=${only}: the lists in docs/gateway.md are not checked (${summary})`);
  else {
    t.same([...declared.knownFailures.keys()].filter((n) => !failing.has(n)), [], 'every known failure in docs/gateway.md still fails (else remove it there)');
    t.same([...notReplayed.keys()].sort(), [...declared.notReplayed.keys()].sort(), 'docs/gateway.md lists exactly the tests with parts not replayed');
    t.ok(declared.text.includes(summary), `docs/gateway.md's Conformance section says "${summary}"`);
    const known = new Set(fixtures.tests.flatMap((x) => x.features));
    t.same([...declared.supported, ...declared.unsupported.keys()].filter((f) => !known.has(f)), [], 'every declared name is a conformance feature name');
  }

  await t.test('the upstream GRPCRoute conformance cases pass when the gateway reads GRPCRoute', async (t) => {
    // Does this build read GRPCRoute? Load the first GRPC test's objects and ask the gateway.
    const first = grpcTests[0];
    if (!first) return t.fail('no GRPCRoute test in the fixtures');
    const probe = [...base, ...manifestsOf(first)];
    const st = await load(probe);
    const log = await gw.log();
    const refused = /GRPCRoute[^"]*is not a kind the gateway reads|GRPCRoute is not a kind/.test(log);
    if (!st.some((x) => x.kind === 'GRPCRoute') && refused) {
      t.plan(0, 'GRPCRoute is not supported by this build');
      return;
    }
    await addPods(GRPC_BACKENDS, async (pod) => {
      stops.push(await startGrpcEcho({ ...pod, port: 3000 }));
    });
    const failuresG: string[] = [];
    let passedG = 0;
    let replayedG = 0;
    for (const test of grpcTests.filter((x) => !only || x.shortName === only)) {
      const missing = test.features.filter((f) => !declared.supported.has(f));
      if (missing.length > 0) {
        t.comment(`unsupported ${test.shortName}: ${missing.map((f) => `${f}: ${declared.unsupported.get(f) ?? '?'}`).join('; ')}`);
        continue;
      }
      await load([...base, ...manifestsOf(test)]);
      for (const [i, c] of (test.cases as unknown as GrpcCase[]).entries()) {
        replayedG++;
        const gatewayName = c.gateway ?? 'gateway-conformance-infra/same-namespace';
        const ports = [...listeners.values()].filter((l) => l.gateway === gatewayName).map((l) => l.port);
        const port = ports.includes(80) ? 80 : (ports[0] ?? 80);
        const socket = socketOf(gatewayName, port);
        let last: string | undefined = socket === undefined ? `no socket for ${gatewayName}` : undefined;
        const deadline = Date.now() + 1500;
        while (socket !== undefined) {
          last = await replayGrpc(`${gwAddress}:${socket}`, port === 80 ? gwAddress : `${gwAddress}:${port}`, c).catch((e: Error) => `call failed: ${e.message}`);
          if (!last || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        if (last) failuresG.push(`${test.shortName} case ${i} ${c.TestCaseName ?? ''} (line ${c.line}): ${last}`);
        else passedG++;
      }
    }
    t.comment(`GRPCRoute: ${passedG} of ${replayedG} replayed cases pass`);
    t.same(failuresG, [], 'every case of every declared-supported GRPCRoute test passes');
  });
});

const GRPC_BACKENDS = [1, 2, 3].map((n) => ({ namespace: 'gateway-conformance-infra', service: `grpc-infra-backend-v${n}` }));

/** Status-only tests replayed though they name an unsupported feature: their checks concern HTTPRoute status only. */
const STATUS_ONLY: Record<string, readonly string[]> = { HTTPRouteDisallowedKind: ['TLSRoute'] };

/**
 * What upstream test code (not a literal) does between cases, transcribed by hand:
 * HTTPRouteReferenceGrant deletes its ReferenceGrant before its second case (httproute-reference-grant.go:67-75).
 */
const STEPS: Record<string, { beforeCase: number; remove: { kind: string; namespace: string; name: string } }> = {
  HTTPRouteReferenceGrant: { beforeCase: 1, remove: { kind: 'ReferenceGrant', namespace: 'gateway-conformance-web-backend', name: 'reference-grant' } },
};

/** The WebSocket round trip of HTTPRouteBackendProtocolWebSocket: undefined when both frames come back unchanged. */
async function wsEcho(url: string, host: string, origin: string): Promise<string | undefined> {
  const ws = new WebSocket(url, { headers: { host }, origin });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode ?? 0}`)));
    });
    const roundTrip = (data: string | Buffer): Promise<{ data: Buffer; binary: boolean }> =>
      new Promise((resolve) => {
        ws.once('message', (m: Buffer, binary: boolean) => resolve({ data: m, binary }));
        ws.send(data, { binary: typeof data !== 'string' });
      });
    const text = await roundTrip('Websocket Support!');
    if (text.binary || text.data.toString() !== 'Websocket Support!') return `unexpected reply - want: Websocket Support! got: ${text.data.toString()}`;
    const bytes = Buffer.from([1, 2, 3, 4, 5, 6, 7]);
    const bin = await roundTrip(bytes);
    if (!bin.binary || !bin.data.equals(bytes)) return `unexpected binary reply: ${bin.data.toString('hex')}`;
    return undefined;
  } catch (e) {
    return `failed to dial: ${(e as Error).message}`;
  } finally {
    ws.close();
  }
}

function withRequestId(c: ConformanceCase, id: string): ConformanceCase {
  const add = (p: string): string => `${p}${p.includes('?') ? '&' : '?'}gateway-api-conformance-request-id=${id}`;
  const path = add(c.Request.Path ?? '');
  const er = c.ExpectedRequest?.Request;
  return {
    ...c,
    Request: { ...c.Request, Path: path },
    ...(c.ExpectedRequest ? { ExpectedRequest: { ...c.ExpectedRequest, Request: { ...er, Path: er?.Path ? add(er.Path) : path } } } : {}),
  };
}

/** Upstream reads the mirror backends' logs for the request; here the echo pods record what they saw. */
async function mirrored(seen: readonly EchoSeen[], c: ConformanceCase, id: string): Promise<string | undefined> {
  const deadline = Date.now() + 1000;
  for (;;) {
    const missing = (c.MirroredTo ?? []).filter((m) => !seen.some((s) => s.service === m.BackendRef.Name && s.namespace === m.BackendRef.Namespace && s.path.includes(id)));
    if (missing.length === 0) return undefined;
    if (Date.now() > deadline) return `not mirrored to ${missing.map((m) => `${m.BackendRef.Namespace}/${m.BackendRef.Name}`).join(', ')}`;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function collect(headers: ReadonlyMap<string, readonly string[]>, status: number, protocol: string, body: string, requestHost: string): RoundTrip {
  const ct = headers.get('content-type')?.[0];
  const location = headers.get('location')?.[0];
  return {
    status,
    protocol,
    headers,
    captured: ct === 'application/json' ? (JSON.parse(body) as RoundTrip['captured']) : undefined,
    location: location === undefined ? undefined : parseLocation(location, requestHost),
  };
}

/**
 * Go's certificate name check (crypto/x509 matchHostnames), which the suite's client uses: a
 * leading `*` matches exactly one label, so `*.org` covers example.org (Node refuses such a
 * wildcard).
 */
function goHostnameCheck(host: string, cert: PeerCertificate): Error | undefined {
  const names = (cert.subjectaltname ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4).toLowerCase());
  const labels = host.toLowerCase().replace(/\.$/, '').split('.');
  const ok = names.some((n) => {
    const p = n.split('.');
    return p.length === labels.length && p.every((x, i) => (i === 0 && x === '*') || x === labels[i]);
  });
  return ok ? undefined : new Error(`${host} is not in the certificate's names ${names.join(', ')}`);
}

function h1RoundTrip(address: string, port: number, host: string, req: ReturnType<typeof wireRequest>, tls?: { servername: string; ca: string }): Promise<RoundTrip> {
  return new Promise((resolve, reject) => {
    const opts = { host: address, port, method: req.method, path: req.path || '/', headers: { ...req.headers, host }, agent: false as const, timeout: 10_000 };
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const headers = new Map<string, string[]>();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const k = (res.rawHeaders[i] ?? '').toLowerCase();
          headers.set(k, [...(headers.get(k) ?? []), res.rawHeaders[i + 1] ?? '']);
        }
        resolve(collect(headers, res.statusCode ?? 0, `HTTP/${res.httpVersion}`, body, host));
      });
      res.on('error', reject);
    };
    const r = tls ? https.request({ ...opts, servername: tls.servername, ca: tls.ca, checkServerIdentity: goHostnameCheck }, onResponse) : http.request(opts, onResponse);
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end(req.body);
  });
}

/** One HTTP/2 request: h2c with prior knowledge, or over TLS (ALPN h2) when `tls` is given. */
function h2RoundTrip(origin: string, host: string, method: string, path: string, headers: Record<string, string>, tls?: { servername: string; ca: string }): Promise<RoundTrip> {
  return new Promise((resolve, reject) => {
    const session = tls ? http2.connect(origin, { servername: tls.servername, ca: tls.ca, checkServerIdentity: goHostnameCheck }) : http2.connect(origin);
    session.on('error', reject);
    const h: http2.OutgoingHttpHeaders = { ':method': method, ':path': path || '/', ':authority': host };
    for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = v;
    const stream = session.request(h);
    let body = '';
    let status = 0;
    const out = new Map<string, string[]>();
    stream.on('response', (hs) => {
      status = Number(hs[':status']);
      for (const [k, v] of Object.entries(hs)) if (!k.startsWith(':') && v !== undefined) out.set(k, Array.isArray(v) ? v : [String(v)]);
    });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => {
      session.close();
      resolve(collect(out, status, 'HTTP/2.0', body, host));
    });
    stream.on('error', reject);
    stream.end();
  });
}

