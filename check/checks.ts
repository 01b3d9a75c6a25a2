// The checks of `weft check`, as one pure function over gathered facts and the clock: API server
// and version, RBAC per component, CA and trust expiry, the webhook and its caBundle, and the data
// plane of every labelled namespace. Every warn and fail says what to do.
import { authorizationChecks } from './authz-checks.js';
import { X509Certificate } from 'node:crypto';
import type { AccessReviewFact, ClusterFacts, DeploymentFact, Fetched, NamespaceFact, PodFact } from './facts.js';
import type { CheckResult, CheckStatus } from './results.js';
import { gatewayKindsCheck, requiredKindsCheck } from './kinds.js';
import { ADMIN_PORT } from '../lib/ports.js';

/** Oldest Kubernetes the chart installs on (Chart.yaml kubeVersion). */
export const MIN_KUBERNETES_MINOR = 27;
/** First Kubernetes with native sidecars (init containers with restartPolicy Always) on by default. */
export const NATIVE_SIDECAR_MINOR = 29;
/** Roots and issuers closer than this to expiry are a warning. */
export const EXPIRY_WARN_DAYS = 60;

const DAY_MS = 86_400_000;

/** Runs every check; `now` is the clock certificates are judged against. */
export function runChecks(facts: ClusterFacts, now: Date): CheckResult[] {
  const out: CheckResult[] = [];
  const add = (category: string, id: string, status: CheckStatus, message: string, advice?: string): void => {
    out.push({ id, category, status, message, ...(advice === undefined ? {} : { advice }) });
  };
  const ns = facts.weftNamespace;

  // ---- kubernetes-api ----
  const api = 'kubernetes-api';
  if (!facts.version.ok) {
    add(api, 'api-reachable', 'fail', `cannot reach the API server at ${facts.server}: ${facts.version.error}`,
      'check KUBECONFIG and the current context (kubectl config current-context; kubectl version)');
    for (const r of skippedAfterApi()) add(r.category, r.id, 'skip', r.message);
    return out;
  }
  const v = facts.version.value;
  add(api, 'api-reachable', 'pass', `can reach the API server at ${facts.server} (Kubernetes ${v.gitVersion})`);
  const minor = v.major > 1 ? 1000 : v.minor;
  if (minor < MIN_KUBERNETES_MINOR) {
    add(api, 'kubernetes-version', 'fail', `Kubernetes ${v.gitVersion} is older than 1.${MIN_KUBERNETES_MINOR}, the oldest weft supports`, 'upgrade the cluster');
  } else {
    add(api, 'kubernetes-version', 'pass', `Kubernetes ${v.gitVersion} is supported (1.${MIN_KUBERNETES_MINOR} or newer)`);
  }
  if (minor < NATIVE_SIDECAR_MINOR) {
    add(api, 'native-sidecars', 'warn', `Kubernetes ${v.gitVersion} has no native sidecars (1.${NATIVE_SIDECAR_MINOR}+): the proxy is added as the first container`,
      'Jobs and CronJobs will not complete while the proxy runs, and the app may start before the proxy is ready;\nupgrade to 1.29+ (the injector then uses native sidecars), or keep the proxy out of Jobs with the pod annotation weft.dev/inject: disabled');
  } else {
    add(api, 'native-sidecars', 'pass', 'native sidecars are supported: the proxy starts before the app and Jobs complete');
  }
  out.push(...requiredKindsCheck(facts));

  // ---- weft-rbac ----
  const rbac = 'weft-rbac';
  if (!facts.access.ok) {
    add(rbac, 'rbac', 'warn', `could not check the components' permissions: ${facts.access.error}`,
      'weft check needs create on subjectaccessreviews.authorization.k8s.io; run it as a cluster admin');
  } else {
    const bySubject = new Map<string, AccessReviewFact[]>();
    for (const r of facts.access.value) bySubject.set(r.subject, [...(bySubject.get(r.subject) ?? []), r]);
    for (const [subject, reviews] of bySubject) {
      const missing = reviews.filter((r) => !r.allowed);
      const id = `rbac-${subject.replace(/[^a-z0-9]+/g, '-')}`;
      if (missing.length === 0) {
        add(rbac, id, 'pass', `${subject} may do the ${reviews.length} things it needs`);
        continue;
      }
      const lines = missing.map((m) => `${m.verb} ${m.row.resource}${m.row.group ? `.${m.row.group}` : ''}${m.name ? ` "${m.name}"` : ''}${m.namespace ? ` in ${m.namespace}` : ''} (${m.row.why})`);
      const as = subject.startsWith('weft-') ? `system:serviceaccount:${ns}:${subject}` : `system:serviceaccount:${subject.replace(/^proxies in /, '')}:default`;
      const first = missing[0] as AccessReviewFact;
      add(rbac, id, 'fail', `${subject} may not: ${lines.join('; ')}`,
        `the chart grants exactly these (charts/weft/templates/rbac.yaml); re-apply it with helm upgrade weft charts/weft -n ${ns} --reuse-values\n` +
        `and look for what removed or changed the binding; reproduce with kubectl auth can-i ${first.verb} ${first.row.resource}${first.row.group ? `.${first.row.group}` : ''}${first.namespace ? ` -n ${first.namespace}` : ''} --as=${as}`);
    }
  }

  // ---- weft-ca ----
  const caCat = 'weft-ca';
  deploymentCheck(add, caCat, 'ca-ready', 'weft-ca', facts.ca, ns, 'pods cannot get or renew certificates: new meshed pods never become ready');
  const roots = pemCerts(facts.trustAnchors.ok ? facts.trustAnchors.value : '');
  if (!facts.trustAnchors.ok) {
    add(caCat, 'trust-anchors', 'fail', `cannot read the trust anchors (ConfigMap ${ns}/weft-trust-anchors): ${facts.trustAnchors.error}`,
      `with generated trust, weft ca writes it on first start: check kubectl -n ${ns} logs deploy/weft-ca;\nwith your own root, set identity.trustAnchorsPEM and helm upgrade`);
  } else if (roots.length === 0) {
    add(caCat, 'trust-anchors', 'fail', `ConfigMap ${ns}/weft-trust-anchors holds no PEM certificate in roots.pem`, 'set identity.trustAnchorsPEM to your root (PEM) and helm upgrade');
  } else {
    for (const [i, root] of roots.entries()) {
      expiry(add, caCat, roots.length === 1 ? 'root-expiry' : `root-expiry-${i + 1}`, `trust anchor ${root.subject.replace(/\n/g, ', ')}`, root, now,
        'rotate the root without downtime: docs/rotate-trust.md (bundle old and new roots, then a new issuer, then drop the old root)');
    }
  }
  if (!facts.issuer.ok) {
    add(caCat, 'issuer', 'fail', `cannot read the issuer certificate: ${facts.issuer.error}`,
      `with generated trust, weft ca creates it on first start (kubectl -n ${ns} logs deploy/weft-ca);\nwith your own, check identity.issuer.existingSecret or certPEM/keyPEM`);
  } else {
    const [issuer] = pemCerts(facts.issuer.value.certPem);
    if (!issuer) {
      add(caCat, 'issuer', 'fail', `the Secret ${ns}/${facts.issuer.value.secret} holds no PEM certificate in tls.crt`, 'recreate the issuer Secret (docs/rotate-trust.md)');
    } else {
      expiry(add, caCat, 'issuer-expiry', `issuer ${issuer.subject.replace(/\n/g, ', ')}`, issuer, now,
        'issue a new issuer from the root and update the Secret: docs/rotate-trust.md; weft ca reloads it without a restart');
      if (roots.length > 0) {
        if (roots.some((r) => issuedBy(issuer, r))) add(caCat, 'issuer-chain', 'pass', 'the issuer is signed by a trust anchor');
        else {
          add(caCat, 'issuer-chain', 'fail', 'the issuer is not signed by any trust anchor: proxies will refuse every certificate it issues',
            'put the root that signed the issuer into identity.trustAnchorsPEM (keep the old one too while rotating): docs/rotate-trust.md');
        }
      }
    }
  }

  // ---- weft-injector ----
  const inj = 'weft-injector';
  deploymentCheck(add, inj, 'injector-ready', 'weft-injector', facts.injector, ns, 'pods in labelled namespaces are refused (failurePolicy Fail) or start unmeshed (Ignore)');
  const wh = facts.webhook;
  let bundle: X509Certificate[] = [];
  if (!wh.config.ok) {
    add(inj, 'webhook-config', 'fail', `cannot read MutatingWebhookConfiguration weft-injector: ${wh.config.error}`,
      `no pod is injected without it; reinstall: helm upgrade --install weft charts/weft -n ${ns}`);
  } else {
    const wrongService = wh.config.value.filter((w) => w.service?.name !== 'weft-injector' || w.service.namespace !== ns);
    const noBundle = wh.config.value.filter((w) => w.caBundlePem === '' || pemCerts(w.caBundlePem).length === 0);
    if (wh.config.value.length === 0) add(inj, 'webhook-config', 'fail', 'MutatingWebhookConfiguration weft-injector has no webhooks', `helm upgrade weft charts/weft -n ${ns}`);
    else if (wrongService.length > 0) {
      add(inj, 'webhook-config', 'fail', `webhook ${wrongService.map((w) => w.name).join(', ')} does not call the Service ${ns}/weft-injector`, `helm upgrade weft charts/weft -n ${ns}`);
    } else if (noBundle.length > 0) {
      add(inj, 'webhook-config', 'fail', `webhook ${noBundle.map((w) => w.name).join(', ')} has no usable caBundle: the API server cannot call the injector`,
        `helm upgrade weft charts/weft -n ${ns} writes the caBundle with the certificate (or set injector.tls.caBundlePEM with injector.tls.existingSecret)`);
    } else {
      add(inj, 'webhook-config', 'pass', `the webhook is registered (${wh.config.value.map((w) => `${w.name}: failurePolicy ${w.failurePolicy}`).join(', ')})`);
      bundle = pemCerts(wh.config.value[0]?.caBundlePem ?? '');
    }
  }
  if (!wh.serving.ok) {
    add(inj, 'webhook-cabundle', 'fail', `cannot read the injector's serving certificate: ${wh.serving.error}`,
      `check the Secret mounted by deploy/weft-injector (kubectl -n ${ns} get deploy weft-injector -o yaml)`);
  } else if (bundle.length > 0) {
    const chain = pemCerts(wh.serving.value.chainPem);
    const [leaf, ...intermediates] = chain;
    const host = `weft-injector.${ns}.svc`;
    if (!leaf) add(inj, 'webhook-cabundle', 'fail', `no certificate in ${wh.serving.value.source}`, 'recreate the injector certificate: delete the Secret weft-injector-tls and helm upgrade');
    else if (!chainsTo(leaf, intermediates, bundle)) {
      add(inj, 'webhook-cabundle', 'fail', `the webhook's caBundle does not match the injector's serving certificate (${wh.serving.value.source}): the API server cannot verify the injector`,
        `pods in labelled namespaces are refused (failurePolicy Fail) or start unmeshed (Ignore).\n` +
        `Realign them: helm upgrade weft charts/weft -n ${ns} --reuse-values rewrites both from one CA; with cert-manager, set injector.tls.caBundlePEM to the CA of injector.tls.existingSecret`);
    } else if (Date.parse(leaf.validTo) <= now.getTime()) {
      add(inj, 'webhook-cabundle', 'fail', `the injector's serving certificate expired on ${new Date(leaf.validTo).toISOString()}`,
        `delete the Secret ${ns}/weft-injector-tls and run helm upgrade to make a new one, then kubectl -n ${ns} rollout restart deploy/weft-injector`);
    } else if (leaf.checkHost(host) === undefined) {
      add(inj, 'webhook-cabundle', 'fail', `the injector's serving certificate does not name ${host}`, `delete the Secret ${ns}/weft-injector-tls and helm upgrade`);
    } else {
      add(inj, 'webhook-cabundle', 'pass', `the caBundle verifies the injector's serving certificate for ${host} (${wh.serving.value.source})`);
    }
  }
  if (wh.probe) {
    if (wh.probe.ok) add(inj, 'webhook-reachable', 'pass', `the injector answers at ${wh.probe.url} over TLS verified with the caBundle`);
    else {
      add(inj, 'webhook-reachable', 'fail', `the injector does not answer at ${wh.probe.url}: ${wh.probe.error ?? 'no answer'}`,
        `check kubectl -n ${ns} get pods -l weft.dev/component=injector and its logs; a NetworkPolicy must let the API server reach port 8443`);
    }
  } else if (!wh.readyEndpoints.ok) {
    add(inj, 'webhook-reachable', 'warn', `cannot read the endpoints of Service ${ns}/weft-injector: ${wh.readyEndpoints.error}`, 'weft check needs list on endpointslices.discovery.k8s.io');
  } else if (wh.readyEndpoints.value === 0) {
    add(inj, 'webhook-reachable', 'fail', `Service ${ns}/weft-injector has no ready endpoint: the API server cannot reach the webhook`,
      `pods in labelled namespaces are refused (failurePolicy Fail) or start unmeshed (Ignore); kubectl -n ${ns} describe pods -l weft.dev/component=injector`);
  } else {
    add(inj, 'webhook-reachable', 'pass', `Service ${ns}/weft-injector has ${wh.readyEndpoints.value} ready endpoint(s)`);
  }

  // ---- weft-gateway (optional) ----
  if (facts.gateway.ok || !facts.gateway.missing) {
    deploymentCheck(add, 'weft-gateway', 'gateway-ready', 'weft-gateway', facts.gateway, ns, 'outside clients cannot reach meshed services');
  }
  out.push(...gatewayKindsCheck(facts));

  // ---- data-plane ----
  const dp = 'data-plane';
  if (!facts.namespaces.ok) {
    add(dp, 'namespaces', 'warn', `cannot list the labelled namespaces and their pods: ${facts.namespaces.error}`, 'weft check needs list on namespaces and pods');
    return out;
  }
  if (facts.namespaces.value.length === 0) {
    add(dp, 'namespaces', 'pass', 'no namespace is labelled weft.dev/inject=enabled yet (label one: kubectl label namespace <ns> weft.dev/inject=enabled)');
  }
  const weftRoots = facts.trustAnchors.ok ? fingerprints(facts.trustAnchors.value) : undefined;
  for (const n of facts.namespaces.value) {
    trustBundleCheck(add, dp, n, ns, weftRoots);
    namespaceChecks(add, dp, n, now);
  }
  authorizationChecks(add, facts.authorization);
  return out;
}

type Add = (category: string, id: string, status: CheckStatus, message: string, advice?: string) => void;

function skippedAfterApi(): { category: string; id: string; message: string }[] {
  return [
    { category: 'weft-rbac', id: 'rbac', message: 'permissions not checked: the API server is unreachable' },
    { category: 'weft-ca', id: 'ca-ready', message: 'CA not checked: the API server is unreachable' },
    { category: 'weft-injector', id: 'injector-ready', message: 'injector not checked: the API server is unreachable' },
    { category: 'data-plane', id: 'namespaces', message: 'data plane not checked: the API server is unreachable' },
  ];
}

function deploymentCheck(add: Add, category: string, id: string, name: string, dep: Fetched<DeploymentFact>, ns: string, impact: string): void {
  if (!dep.ok) {
    add(category, id, 'fail', dep.missing ? `Deployment ${ns}/${name} does not exist` : `cannot read Deployment ${ns}/${name}: ${dep.error}`,
      `${impact}; install weft: helm upgrade --install weft charts/weft -n ${ns}`);
  } else if (dep.value.ready === 0) {
    add(category, id, 'fail', `Deployment ${ns}/${name} has no ready pod (0/${dep.value.desired})`,
      `${impact}; look at kubectl -n ${ns} describe pods -l weft.dev/component=${name.slice(5)} and kubectl -n ${ns} logs deploy/${name}`);
  } else if (dep.value.ready < dep.value.desired) {
    add(category, id, 'warn', `Deployment ${ns}/${name} has ${dep.value.ready}/${dep.value.desired} pods ready`,
      `one more failure takes it down; kubectl -n ${ns} describe pods -l weft.dev/component=${name.slice(5)}`);
  } else {
    add(category, id, 'pass', `${name} is ready (${dep.value.ready}/${dep.value.desired})`);
  }
}

function expiry(add: Add, category: string, id: string, what: string, cert: X509Certificate, now: Date, advice: string): void {
  const notAfter = new Date(cert.validTo);
  const left = notAfter.getTime() - now.getTime();
  const days = Math.floor(left / DAY_MS);
  if (left <= 0) add(category, id, 'fail', `${what} expired on ${notAfter.toISOString()}: mTLS between pods fails`, advice);
  else if (days < EXPIRY_WARN_DAYS) add(category, id, 'warn', `${what} expires in ${days} days (${notAfter.toISOString()})`, advice);
  else add(category, id, 'pass', `${what} is valid until ${notAfter.toISOString().slice(0, 10)} (${days} days)`);
}

function namespaceChecks(add: Add, category: string, n: NamespaceFact, now: Date): void {
  const meshable = n.pods.filter(shouldBeMeshed);
  const id = (what: string): string => `${what}-${n.name}`;
  if (meshable.length === 0) {
    add(category, id('injected'), 'pass', `namespace ${n.name}: no running pods to mesh`);
    return;
  }
  const unmeshed = meshable.filter((p) => !p.proxy || p.annotations['weft.dev/injected'] === undefined);
  if (unmeshed.length > 0) {
    const owners = [...new Set(unmeshed.map((p) => p.owner ?? `pod/${p.name}`))];
    add(category, id('injected'), 'fail', `namespace ${n.name}: ${unmeshed.length} of ${meshable.length} pods have no weft proxy: ${names(unmeshed)}`,
      'they were created before the namespace was labelled, or while the injector was down with failurePolicy Ignore;\n' +
      `re-create them: ${owners.slice(0, 5).map((o) => (o.startsWith('pod/') ? `kubectl -n ${n.name} delete ${o}` : `kubectl -n ${n.name} rollout restart ${o}`)).join('; ')}`);
  } else {
    add(category, id('injected'), 'pass', `namespace ${n.name}: all ${meshable.length} pods are injected`);
  }
  const running = meshable.filter((p) => p.proxy && p.phase === 'Running');
  const notReady = running.filter((p) => !p.proxy?.ready);
  if (notReady.length > 0) {
    add(category, id('proxies-ready'), 'fail', `namespace ${n.name}: ${notReady.length} proxies are not ready: ${names(notReady)}`,
      `a proxy is ready once it holds a certificate and has loaded its endpoints;\nkubectl -n ${n.name} logs ${(notReady[0] as PodFact).name} -c weft-proxy, and check that weft-ca is ready`);
  } else if (running.length > 0) {
    add(category, id('proxies-ready'), 'pass', `namespace ${n.name}: all ${running.length} running proxies are ready`);
  }
  const expired: PodFact[] = [];
  const unread: string[] = [];
  let checked = 0;
  for (const p of running) {
    if (!p.certNotAfter) continue;
    if (!p.certNotAfter.ok) unread.push(`${p.name} (${p.certNotAfter.error})`);
    else {
      checked++;
      if (p.certNotAfter.value.getTime() <= now.getTime()) expired.push(p);
    }
  }
  if (expired.length > 0) {
    add(category, id('certificates'), 'fail', `namespace ${n.name}: ${expired.length} proxies hold an expired certificate: ${names(expired)}`,
      `they failed to renew: check weft-ca is ready and reachable from ${n.name} (kubectl -n ${n.name} logs ${(expired[0] as PodFact).name} -c weft-proxy), then delete the pods`);
  } else if (unread.length > 0) {
    add(category, id('certificates'), 'warn', `namespace ${n.name}: could not read the certificate of ${unread.length} proxies: ${unread.slice(0, 3).join(', ')}`,
      `weft check reads each proxy's /metrics through the API server (pods/proxy, port ${ADMIN_PORT}); it needs get on pods/proxy`);
  } else if (checked > 0) {
    add(category, id('certificates'), 'pass', `namespace ${n.name}: all ${checked} proxy certificates are valid`);
  }
}

/**
 * The injector writes the trust anchors into each proxy's env (WEFT_TRUST_ANCHORS) when the pod
 * is created; a pod keeps that bundle for life. Pods whose bundle differs from weft's current
 * ConfigMap (a root rotation since they started) must be restarted to pick up the new roots.
 */
function trustBundleCheck(add: Add, category: string, n: NamespaceFact, ns: string, weftRoots: string | undefined): void {
  const id = `trust-bundle-${n.name}`;
  const injected = n.pods.filter((p) => p.proxy !== undefined && p.phase !== 'Succeeded' && p.phase !== 'Failed');
  if (injected.length === 0) {
    add(category, id, 'pass', `namespace ${n.name} has no injected pods whose trust bundle to compare`);
    return;
  }
  if (weftRoots === undefined) {
    add(category, id, 'warn', `the trust bundle of ${n.name}'s proxies was not compared: ${ns}/weft-trust-anchors cannot be read (see trust-anchors above)`);
    return;
  }
  const without = injected.filter((p) => p.proxyTrustAnchors === undefined);
  const stale = injected.filter((p) => p.proxyTrustAnchors !== undefined && fingerprints(p.proxyTrustAnchors) !== weftRoots);
  const restart = (pods: readonly PodFact[]): string => {
    const owners = [...new Set(pods.map((p) => p.owner ?? `pod/${p.name}`))];
    return owners.map((o) => (o.startsWith('pod/') ? `kubectl -n ${n.name} delete ${o}` : `kubectl -n ${n.name} rollout restart ${o}`)).join('\n');
  };
  if (stale.length > 0) {
    add(category, id, 'fail',
      `${stale.length} pod(s) in ${n.name} carry other trust anchors in WEFT_TRUST_ANCHORS than ${ns}/weft-trust-anchors (${names(stale)}): they will refuse peers or the CA once the old root is gone`,
      `restart the pods to pick up the new trust anchors (docs/rotate-trust.md):\n${restart(stale)}`);
  } else if (without.length > 0) {
    add(category, id, 'warn',
      `${without.length} pod(s) in ${n.name} have no WEFT_TRUST_ANCHORS in their proxy env (${names(without)}): injected by an older weft, they read trust anchors from a per-namespace ConfigMap`,
      `restart the pods so the injector gives them the trust anchors in their env:\n${restart(without)}`);
  } else {
    add(category, id, 'pass', `the ${injected.length} injected pod(s) in ${n.name} carry the current trust anchors`);
  }
}

function fingerprints(pem: string): string {
  return pemCerts(pem).map((c) => c.fingerprint256).sort().join(',');
}

/** Pods the webhook should have injected: running or starting, not opted out, not weft's own. */
function shouldBeMeshed(p: PodFact): boolean {
  if (p.phase === 'Succeeded' || p.phase === 'Failed') return false;
  if (p.hostNetwork) return false;
  if (p.annotations['weft.dev/inject'] === 'disabled') return false;
  return p.labels['weft.dev/component'] === undefined;
}

function names(pods: readonly PodFact[]): string {
  const shown = pods.slice(0, 5).map((p) => p.name).join(', ');
  return pods.length > 5 ? `${shown} and ${pods.length - 5} more` : shown;
}

/** Every certificate in a PEM bundle; unparsable blocks are left out. */
export function pemCerts(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const out: X509Certificate[] = [];
  for (const b of blocks) {
    try {
      out.push(new X509Certificate(b));
    } catch {
      // A broken block is reported by the caller as "no certificate" when nothing parses.
    }
  }
  return out;
}

function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** True when the leaf chains, through the given intermediates, to one of the anchors. */
function chainsTo(leaf: X509Certificate, intermediates: readonly X509Certificate[], anchors: readonly X509Certificate[]): boolean {
  let current = leaf;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (anchors.some((a) => issuedBy(current, a))) return true;
    const next = intermediates.find((i) => issuedBy(current, i));
    if (!next) return false;
    current = next;
  }
  return false;
}
