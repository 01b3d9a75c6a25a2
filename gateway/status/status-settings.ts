// The settings of Gateway API status writing (kubernetes mode): whether to write it, the Lease
// that makes one replica the writer, and the addresses written into each Gateway's status.
import { bool, durationMs, list, setting, str } from '../../lib/config.js';

/** The rows, spread into the gateway's settings table (docs/sidecar-config.md lists them). */
export const STATUS_SETTINGS = {
  statusWrite: setting({ name: 'WEFT_GATEWAY_STATUS', type: bool(), default: true, doc: 'kubernetes mode: write Gateway API status (GatewayClass `weft`, Gateways, HTTPRoutes) through the status subresource, one replica at a time' }),
  statusLease: setting({ name: 'WEFT_GATEWAY_STATUS_LEASE', type: str('DNS name'), default: 'weft-gateway-status', doc: 'the coordination.k8s.io Lease (in `WEFT_POD_NAMESPACE`) whose holder writes status' }),
  statusLeaseMs: setting({ name: 'WEFT_GATEWAY_STATUS_LEASE_MS', type: durationMs({ min: 1_000, max: 300_000 }), default: 15_000, doc: "the Lease's duration: a replica takes over this long after the holder's last renewal (at once when the holder stops cleanly); renewed every third of it" }),
  statusAddresses: setting({ name: 'WEFT_GATEWAY_STATUS_ADDRESSES', type: list('IP or hostname'), default: [], defaultDoc: '(the own Service\'s load-balancer ingress, else its cluster IPs)', doc: "what each Gateway's `status.addresses` says" }),
} as const;

/** The status settings, parsed. */
export interface StatusConfig {
  readonly write: boolean;
  readonly lease: string;
  readonly leaseMs: number;
  readonly addresses: readonly string[];
}
