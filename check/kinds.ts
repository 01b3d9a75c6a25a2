// The checks of the kinds weft reads: a kind the proxies or the gateway cannot run without that
// the API server does not serve fails; the gateway's optional kinds (the Gateway API, ReferenceGrant
// v1beta1, weft's policy CRDs, Ingress) that are absent are a warning, since it serves without them.
import { kindLabel } from '../lib/kube/kinds.js';
import type { ClusterFacts } from './facts.js';
import type { CheckResult } from './results.js';

/** The required-kinds result (category kubernetes-api); none when the kinds were not gathered. */
export function requiredKindsCheck(facts: ClusterFacts): CheckResult[] {
  const k = facts.apiKinds;
  if (k === undefined) return [];
  const category = 'kubernetes-api';
  if (!k.ok) {
    return [{ id: 'api-kinds', category, status: 'warn', message: `cannot read the API server's discovery: ${k.error}`, advice: 'weft check needs get on the discovery paths (/api, /apis); every authenticated user normally has it' }];
  }
  const missing = k.value.filter((x) => !x.optional && !x.served);
  if (missing.length === 0) return [{ id: 'api-kinds', category, status: 'pass', message: 'the API server serves every kind the proxies and the gateway need' }];
  return [{
    id: 'api-kinds',
    category,
    status: 'fail',
    message: `the API server does not serve ${missing.map((x) => `${kindLabel(x)} (read by the ${x.readers.join(' and the ')})`).join(', ')}`,
    advice: 'weft reads these versions and cannot discover endpoints without them; upgrade the cluster to one that serves them',
  }];
}

/** The gateway's optional kinds (category weft-gateway); none when the gateway is not installed. */
export function gatewayKindsCheck(facts: ClusterFacts): CheckResult[] {
  const k = facts.apiKinds;
  if (k === undefined || !k.ok || (!facts.gateway.ok && facts.gateway.missing)) return [];
  const category = 'weft-gateway';
  const absent = k.value.filter((x) => x.optional && x.readers.includes('gateway') && !x.served);
  if (absent.length === 0) return [{ id: 'gateway-kinds', category, status: 'pass', message: 'the API server serves every kind the gateway reads' }];
  const advice: string[] = [];
  if (absent.some((x) => x.group === 'gateway.networking.k8s.io')) {
    advice.push('for Gateway, HTTPRoute and ReferenceGrant (v1beta1), install the Gateway API standard-channel CRDs (v1.0 or newer), a prerequisite of the gateway the chart does not install (docs/install.md)');
  }
  if (absent.some((x) => x.group === 'weft.dev')) advice.push("for weft's policy kinds, install the chart with crds.install=true (the default), which renders them");
  advice.push('nothing to do if you do not use them: the gateway serves what exists and picks a kind up when it is installed');
  return [{
    id: 'gateway-kinds',
    category,
    status: 'warn',
    message: `the gateway serves without kinds the API server does not serve: ${absent.map(kindLabel).join(', ')}`,
    advice: advice.join('\n'),
  }];
}
