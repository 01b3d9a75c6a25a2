// The table of `weft` subcommands. Each is imported only when run, so `weft init` does not load
// the proxy and `weft --version` loads nothing.
import type { Command } from './command.js';

/** One subcommand: its one-line summary, its loader, and whether it reads arguments at all. */
export interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<Command>;
  /** false: settings come from the environment only, so any argument is refused (WEFT_ERR_USAGE). */
  readonly takesArguments?: boolean;
}

/** Subcommand name -> loader. Add a line here (and its help in cli/help.ts) for a new subcommand. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  up: { summary: 'run the whole mesh on loopback (CA, demo services with sidecars); --check to verify and exit', load: async () => (await import('./up.js')).upCommand },
  proxy: { summary: 'run the sidecar proxy (inbound mTLS, outbound balancing, admin)', takesArguments: false, load: async () => (await import('./proxy.js')).proxyCommand },
  gateway: { summary: 'run the edge gateway (Gateway API / Ingress routes, API policies, mTLS into the mesh); weft gateway status prints its route status', load: async () => (await import('./gateway.js')).gatewayCommand },
  ca: { summary: 'run the certificate authority (POST /v1/certificates, TokenReview of pod tokens)', takesArguments: false, load: async () => (await import('./ca.js')).caCommand },
  destination: { summary: 'run the discovery service: endpoints and address lookups for proxies over mutual TLS (Kubernetes mode)', takesArguments: false, load: async () => (await import('./destination.js')).destinationCommand },
  init: { summary: "write the pod's iptables rules that route its TCP through the sidecar", load: async () => (await import('./init.js')).initCommand },
  authz: { summary: 'explain an authorization decision from a policy file (weft authz explain -f FILE --identity ID --namespace NS --port N [--method M --path P])', load: async () => (await import('./authz.js')).authzCommand },
  check: { summary: 'check a cluster running weft: API, RBAC, CA and expiry, webhook, meshed pods (exit 0 pass, 1 fail, 2 warn)', load: async () => (await import('./check.js')).checkCommand },
  injector: { summary: 'admission webhook that injects the sidecar', takesArguments: false, load: async () => (await import('./injector.js')).injectorCommand },
  inject: { summary: 'inject the sidecar into Kubernetes YAML, offline', load: async () => (await import('./inject.js')).injectCommand },
  stat: { summary: 'golden metrics per service and edge of the local mesh (weft stat [-f mesh.yaml] [--window 5s|0] [-o json])', load: async () => (await import('./stat.js')).statCommand },
  top: { summary: 'the busiest paths of the local mesh now (weft top [--window 5s] [--rows 10])', load: async () => (await import('./top.js')).topCommand },
  tap: { summary: 'live stream of requests matching a filter (weft tap [--service S] [--path /p] [--status 5xx]), headers redacted', load: async () => (await import('./tap.js')).tapCommand },
  dashboard: { summary: 'web dashboard of the local mesh: service graph, golden metrics, endpoints and recent failures (weft dashboard [--listen 127.0.0.1:7099])', load: async () => (await import('./dashboard.js')).dashboardCommand },
  'await-proxy': { summary: 'wait for the local proxy to be ready (postStart hook)', load: async () => (await import('./await-proxy.js')).awaitProxyCommand },
};
