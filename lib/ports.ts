// The sidecar's fixed numbers (DESIGN.md "Names and ports"): the injector, `weft init`, the proxy,
// the gateway, the CA and `weft up` all agree on them, so they are written once, here.

/** The proxy's plain listener for the app's outgoing calls (bound to 127.0.0.1 in a pod). */
export const OUTBOUND_PORT = 7001;
/** The proxy's mutual-TLS listener that other sidecars (and the gateway) dial. */
export const INBOUND_PORT = 7006;
/** The admin listener of every weft process: /live, /ready, /metrics, /debug/..., /app-probe/... */
export const ADMIN_PORT = 7020;
/** The UID the proxy runs as; `weft init` never redirects this UID's own connections. */
export const PROXY_UID = 7007;

/** The three ports the sidecar listens on inside a pod; an app may not take any of them. */
export const SIDECAR_PORTS = { outbound: OUTBOUND_PORT, inbound: INBOUND_PORT, admin: ADMIN_PORT } as const;
