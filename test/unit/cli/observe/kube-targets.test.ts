// Kubernetes mode's pure parts: which pods are read and under which service, the admin port, the
// concurrency bound on reads through pods/proxy, and the Kubernetes-mode flags.
import t from 'tap';
import { concurrencyLimit, kubeTargetSpecs, type PodObject, type ServiceObject } from '../../../../cli/observe/kube-targets.js';
import { parseObserveArgs, KUBE_FLAGS } from '../../../../cli/observe/args.js';

const pod = (namespace: string, name: string, labels: Record<string, string>, opts: { meshed?: boolean; phase?: string; adminPort?: number } = {}): PodObject => ({
  metadata: { name, namespace, labels, annotations: opts.meshed === false ? {} : { 'weft.dev/injected': 'true' } },
  spec: {
    containers: [
      { name: 'app', ports: [{ name: 'http', containerPort: 8080 }] },
      ...(opts.adminPort ? [{ name: 'weft-proxy', ports: [{ name: 'weft-inbound', containerPort: 7006 }, { name: 'weft-admin', containerPort: opts.adminPort }] }] : []),
    ],
  },
  status: { phase: opts.phase ?? 'Running' },
});
const svc = (namespace: string, name: string, selector?: Record<string, string>): ServiceObject => ({ metadata: { name, namespace }, spec: selector ? { selector } : {} });

t.test('meshed, unfinished pods only, each under the first Service by name whose selector matches', async (t) => {
  const pods = [
    pod('shop', 'web-1', { app: 'web', tier: 'front' }),
    pod('shop', 'web-0', { app: 'web', tier: 'front' }, { adminPort: 9020 }),
    pod('shop', 'legacy-0', { app: 'legacy' }, { meshed: false }),
    pod('shop', 'job-x', { app: 'job' }, { phase: 'Succeeded' }),
    pod('shop', 'pending-0', { app: 'pending' }, { phase: 'Pending' }),
    pod('shop', 'worker-0', { 'app.kubernetes.io/name': 'worker' }),
    pod('other', 'web-0', { app: 'web' }),
  ];
  const services = [svc('shop', 'web-b', { app: 'web' }), svc('shop', 'web-a', { tier: 'front' }), svc('shop', 'headless'), svc('other', 'front', { app: 'web' })];
  t.same(kubeTargetSpecs(pods, services, false), [
    { namespace: 'other', pod: 'web-0', service: 'front', adminPort: 7020 },
    { namespace: 'shop', pod: 'pending-0', service: 'pending', adminPort: 7020 },
    { namespace: 'shop', pod: 'web-0', service: 'web-a', adminPort: 9020 },
    { namespace: 'shop', pod: 'web-1', service: 'web-a', adminPort: 7020 },
    { namespace: 'shop', pod: 'worker-0', service: 'worker', adminPort: 7020 },
  ]);
  t.same(kubeTargetSpecs([pod('shop', 'web-0', { app: 'web' })], [svc('other', 'web', { app: 'web' })], true), [{ namespace: 'shop', pod: 'shop/web-0', service: 'shop/web', adminPort: 7020 }], 'a Service of another namespace never matches; -A qualifies names');
  t.same(kubeTargetSpecs([{ metadata: { name: 'x', namespace: 'n', annotations: { 'weft.dev/injected': 'true' } } }], [], false), [{ namespace: 'n', pod: 'x', service: 'x', adminPort: 7020 }], 'no labels: the pod names itself');
});

t.test('the concurrency limit never runs more than n at once and runs everything in order', async (t) => {
  const limit = concurrencyLimit(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const gates: (() => void)[] = [];
  const runs = [0, 1, 2, 3, 4].map((i) =>
    limit(async () => {
      started.push(i);
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running -= 1;
      return i;
    }),
  );
  // Release one at a time; a newcomer arriving meanwhile must still wait its turn.
  const late = limit(async () => {
    running += 1;
    most = Math.max(most, running);
    running -= 1;
    return 'late';
  });
  while (gates.length > 0 || started.length < 5) {
    await new Promise((r) => setImmediate(r));
    gates.shift()?.();
  }
  t.same(await Promise.all(runs), [0, 1, 2, 3, 4]);
  t.equal(await late, 'late');
  t.equal(most, 2);
  t.same(started, [0, 1, 2, 3, 4]);
});

t.test('Kubernetes-mode flags: -n, -A, --kubeconfig; they exclude -f and each other', async (t) => {
  const allowed = ['file', 'window', 'output', ...KUBE_FLAGS] as const;
  t.match(parseObserveArgs(['-n', 'shop', '--kubeconfig', '/k'], allowed, { windowMs: 5000 }), { kube: true, namespace: 'shop', kubeconfig: '/k', allNamespaces: false });
  t.match(parseObserveArgs(['-A', '--window', '0'], allowed, { windowMs: 5000 }), { kube: true, allNamespaces: true, windowMs: 0 });
  t.match(parseObserveArgs(['--all-namespaces'], allowed, { windowMs: 5000 }), { kube: true, allNamespaces: true });
  t.match(parseObserveArgs([], allowed, { windowMs: 5000 }), { kube: false, namespace: '', allNamespaces: false });
  t.match(parseObserveArgs(['-f', 'm.yaml', '-n', 'shop'], allowed, { windowMs: 5000 }), /exclude each other/);
  t.match(parseObserveArgs(['-n', 'shop', '-A'], allowed, { windowMs: 5000 }), /-n and -A exclude each other/);
  t.match(parseObserveArgs(['--all-namespaces=yes'], allowed, { windowMs: 5000 }), /takes no value/);
  t.match(parseObserveArgs(['-n'], allowed, { windowMs: 5000 }), /-n needs a value/);
  t.match(parseObserveArgs(['-n', 'shop'], ['file', 'window'], { windowMs: 5000 }), /unknown argument "-n"/);
});
