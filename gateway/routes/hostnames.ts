// Hostname rules of the Gateway API and of Ingress: validation, wildcard matching, listener/route
// intersection and the specificity used to order rules. Pure.

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Returns a problem with a Gateway API / Ingress hostname (wildcard allowed only as the first label), or undefined. */
export function hostnameProblem(host: string): string | undefined {
  if (host.length === 0) return 'hostname is empty';
  if (host.length > 253) return 'hostname is longer than 253 characters';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(':')) return 'hostname must be a DNS name, not an IP address';
  const labels = host.split('.');
  for (const [i, label] of labels.entries()) {
    if (label === '*' && i === 0 && labels.length > 1) continue;
    if (!LABEL.test(label)) return `hostname ${JSON.stringify(host)} is not a lowercase DNS name (a wildcard is only allowed as the whole first label)`;
  }
  return undefined;
}

/**
 * Gateway API wildcard match: `*.example.com` matches `foo.example.com` and `a.b.example.com`
 * (one or more labels) but not `example.com`. Exact names compare case-insensitively.
 */
export function gatewayHostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const suffix = pattern.slice(1); // ".example.com"
  return host.length > suffix.length && host.endsWith(suffix);
}

/** Ingress wildcard match: `*.foo.com` matches `bar.foo.com` but neither `baz.bar.foo.com` nor `foo.com`. */
export function ingressHostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const suffix = pattern.slice(1);
  if (!host.endsWith(suffix)) return false;
  const first = host.slice(0, host.length - suffix.length);
  return first.length > 0 && !first.includes('.');
}

/**
 * The hostnames a route serves on a listener (Gateway API "hostname intersection"):
 * undefined listener or route hostnames mean "any". Returns [] when they do not intersect and
 * ['*'] as "any host" when neither side names one.
 */
export function intersectHostnames(listener: string | undefined, route: readonly string[]): string[] {
  if (listener === undefined) return route.length === 0 ? ['*'] : [...route];
  if (route.length === 0) return [listener];
  const out = new Set<string>();
  for (const r of route) {
    if (r === listener) out.add(r);
    else if (gatewayHostMatches(listener, r)) out.add(r); // listener *.example.com, route foo.example.com
    else if (gatewayHostMatches(r, listener)) out.add(listener); // route *.example.com, listener foo.example.com
    else if (r.startsWith('*.') && listener.startsWith('*.')) {
      // Two wildcards: the narrower one is the intersection.
      if (r.endsWith(listener.slice(1))) out.add(r);
      else if (listener.endsWith(r.slice(1))) out.add(listener);
    }
  }
  return [...out];
}

/**
 * Sort key for hostname precedence (larger is more specific): an exact name beats any wildcard,
 * then more characters win (spec: "characters in a matching non-wildcard hostname", then
 * "characters in a matching hostname"). `*` (any host) is the least specific.
 */
export function hostSpecificity(pattern: string): [number, number] {
  if (pattern === '*') return [0, 0];
  if (pattern.startsWith('*.')) return [1, pattern.length];
  return [2, pattern.length];
}

/** Matches a request host against a served hostname pattern ('*' for any host). */
export function servedHostMatches(pattern: string, host: string): boolean {
  return pattern === '*' || gatewayHostMatches(pattern, host);
}

/** Lowercases and strips the port (and IPv6 brackets) from a Host / :authority value. */
export function normalizeHost(raw: string): string {
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0 && /^\d*$/.test(h.slice(colon + 1))) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}
