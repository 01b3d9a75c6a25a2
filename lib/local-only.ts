// The one rule for admin routes that show request details or change state: they answer clients on
// the pod itself only. An admin port may listen on the pod address, and a request relayed by a
// proxy (the API server's pods/proxy, a reverse proxy in the pod) comes from whoever asked it.
import type { IncomingMessage } from 'node:http';
import { WeftError } from './errors.js';

/** True for an address on the loopback network (IPv4 127/8, ::1, and IPv4-mapped 127/8). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** WEFT_ERR_ADMIN_FORBIDDEN when `req` is not from loopback or was relayed; undefined when it may pass. */
export function localOnlyRefusal(req: IncomingMessage): WeftError | undefined {
  const from = req.socket.remoteAddress;
  const path = new URL(req.url ?? '/', 'http://admin').pathname;
  if (!isLoopback(from)) return new WeftError('WEFT_ERR_ADMIN_FORBIDDEN', `${path} answers loopback clients only, not ${from ?? 'an unknown address'}`);
  const relayed = req.headers['x-forwarded-for'] ?? req.headers['forwarded'];
  if (relayed !== undefined) return new WeftError('WEFT_ERR_ADMIN_FORBIDDEN', `${path} answers loopback clients only, not a request relayed for ${String(relayed)}`);
  return undefined;
}
