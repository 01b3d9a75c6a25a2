// Turns the Host / :authority an app dialled into the mesh service it means (pure).
import type { ServiceRef } from './endpoint-source.js';

/** Names the resolver needs: the caller's own namespace and the cluster's DNS domain. */
export interface NameContext {
  readonly namespace: string;
  readonly clusterDomain: string;
}

/** What an authority means: a service, an IP literal (only original destination can route it), or nothing. */
export type AuthorityTarget =
  | { readonly kind: 'service'; readonly ref: ServiceRef }
  | { readonly kind: 'ip'; readonly address: string; readonly port: number }
  | { readonly kind: 'invalid'; readonly reason: string };

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Parses `orders`, `orders.shop`, `orders.shop.svc`, `orders.shop.svc.cluster.local`, each with an
 * optional `:port` (default 80, as a plain `http://orders` call means). Case-insensitive, a
 * trailing dot allowed, as DNS allows.
 */
export function parseAuthority(authority: string | undefined, ctx: NameContext): AuthorityTarget {
  if (authority === undefined || authority === '') return { kind: 'invalid', reason: 'no Host or :authority' };
  let host = authority;
  let port = 80;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(authority);
  if (v6) {
    return { kind: 'ip', address: v6[1] ?? '', port: v6[2] === undefined ? 80 : Number(v6[2]) };
  }
  const colon = authority.lastIndexOf(':');
  if (colon !== -1) {
    const portText = authority.slice(colon + 1);
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535 || Number(portText) === 0) {
      return { kind: 'invalid', reason: `port ${JSON.stringify(portText)} in ${JSON.stringify(authority)} is not valid` };
    }
    port = Number(portText);
    host = authority.slice(0, colon);
  }
  host = host.toLowerCase().replace(/\.$/, '');
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return { kind: 'ip', address: host, port };
  const labels = host.split('.');
  if (labels.some((l) => !LABEL.test(l))) {
    return { kind: 'invalid', reason: `${JSON.stringify(host)} is not a DNS name` };
  }
  const suffix = `svc.${ctx.clusterDomain}`.split('.');
  const [name, namespace, ...rest] = labels;
  if (name === undefined) return { kind: 'invalid', reason: 'empty host' };
  if (namespace === undefined) return { kind: 'service', ref: { namespace: ctx.namespace, name, port } };
  // What follows the namespace must be a prefix of "svc.<cluster domain>" ("svc", or all of it).
  if (rest.length > suffix.length || rest.some((label, i) => label !== suffix[i]) || (rest.length > 1 && rest.length < suffix.length)) {
    return { kind: 'invalid', reason: `${JSON.stringify(host)} is not a service name in cluster domain ${ctx.clusterDomain}` };
  }
  return { kind: 'service', ref: { namespace, name, port } };
}
