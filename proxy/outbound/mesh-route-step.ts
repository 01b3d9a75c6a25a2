// The outbound side's mesh-route step: after the Host named a Service and before an endpoint is
// picked, the Service's mesh routes (if any) choose the rule and the weighted backend Service; the
// rule's filters then rewrite the request, and its timeouts and retry make the request's plan.
import type { IncomingMessage } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http2';
import type { MeshRule } from '../../mesh/routes/mesh-routes.js';
import type { Traffic } from '../../mesh/traffic/traffic.js';
import type { TrafficPlan } from './traffic-step.js';

/** The plan of a request that matched `rule`: its own retry and timeouts, else the mesh-wide ones. */
export function rulePlan(rule: MeshRule, traffic: Traffic | undefined, fallback: TrafficPlan | undefined): TrafficPlan | undefined {
  const timed = rule.timeouts.requestMs > 0 || rule.timeouts.backendRequestMs > 0;
  if (!rule.retry && !timed) return fallback;
  return { policy: rule.retry ?? traffic?.defaultPolicy, timeouts: timed ? rule.timeouts : (fallback?.timeouts ?? rule.timeouts) };
}

/** The path after the rule's URLRewrite (the path and query as sent when there is none). */
export function rewrittenPath(rule: MeshRule, url: string): string {
  const p = rule.rewrite?.path;
  if (!p) return url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  if (p.type === 'ReplaceFullPath') return p.value + query;
  // ReplacePrefixMatch: the prefix of the match that matched is swapped for the value.
  for (const m of rule.matches) {
    if (m.path?.type !== 'PathPrefix') continue;
    const prefix = m.path.value.endsWith('/') && m.path.value !== '/' ? m.path.value.slice(0, -1) : m.path.value;
    if (prefix === '/' || path === prefix || path.startsWith(`${prefix}/`)) {
      const rest = prefix === '/' ? path.slice(1) : path.slice(prefix.length);
      const joined = p.value.endsWith('/') && rest.startsWith('/') ? p.value + rest.slice(1) : rest === '' || rest.startsWith('/') || p.value.endsWith('/') ? p.value + rest : `${p.value}/${rest}`;
      return (joined === '' ? '/' : joined) + query;
    }
  }
  return url;
}

/** Applies the rule's filters to an HTTP/1.1 request before it is forwarded (headers, Host, path). */
export function applyRuleHttp1(rule: MeshRule, req: IncomingMessage): void {
  if (rule.rewrite?.path) req.url = rewrittenPath(rule, req.url ?? '/');
  const h = rule.headers;
  const host = rule.rewrite?.hostname;
  if (!h && host === undefined) return;
  const drop = new Set<string>(h ? [...h.remove, ...h.set.map(([n]) => n)] : []);
  if (host !== undefined) drop.add('host');
  const raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] ?? '';
    if (!drop.has(name.toLowerCase())) raw.push(name, req.rawHeaders[i + 1] ?? '');
  }
  if (host !== undefined) raw.push('Host', host);
  if (h) for (const [n, v] of [...h.set, ...h.add]) raw.push(n, v);
  req.rawHeaders.length = 0;
  req.rawHeaders.push(...raw);
}

/** The HTTP/2 request headers after the rule's filters. */
export function applyRuleHttp2(rule: MeshRule, headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const h = rule.headers;
  const host = rule.rewrite?.hostname;
  if (!h && host === undefined && !rule.rewrite?.path) return headers;
  const out: IncomingHttpHeaders = Object.assign({}, headers);
  if (rule.rewrite?.path) out[':path'] = rewrittenPath(rule, String(headers[':path'] ?? '/'));
  if (host !== undefined) out[':authority'] = host;
  if (h) {
    for (const n of h.remove) delete out[n];
    for (const [n, v] of h.set) out[n] = v;
    for (const [n, v] of h.add) {
      const prev = out[n];
      out[n] = prev === undefined ? v : `${String(prev)},${v}`;
    }
  }
  return out;
}
