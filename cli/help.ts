// `weft <command> --help` and `weft help <command>`: usage, examples and the environment each
// subcommand reads, the environment rendered from the settings tables so it cannot drift from the code.
import { editDistance, type Setting, type SettingsTable } from '../lib/config.js';
import { ADMIN_PORT, INBOUND_PORT, OUTBOUND_PORT } from '../lib/ports.js';
import { COMPONENT_SETTINGS } from './settings.js';

/** What `--help` says about one subcommand. */
export interface CommandHelp {
  /** The usage line(s), each starting `weft <command>`. */
  readonly usage: readonly string[];
  /** What it does, a few lines. */
  readonly about: string;
  readonly examples: readonly string[];
  /** The settings tables whose variables it reads, by name in COMPONENT_SETTINGS. */
  readonly settings: readonly string[];
  /** Other variables it reads that no settings table lists (the cluster connection). */
  readonly otherEnv?: readonly string[];
}

const KUBE_ENV = ['KUBECONFIG (a kubeconfig file; else the in-cluster service account)', 'KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT (set by Kubernetes in a pod)'];

/** Help for every subcommand of cli/commands.ts (a unit test checks both lists agree). */
export const COMMAND_HELP: Readonly<Record<string, CommandHelp>> = {
  up: {
    usage: ['weft up [-f mesh.yaml] [--check]'],
    about: 'Runs the whole mesh on loopback: a local CA directory, demo apps, a real `weft proxy` per pod and the\nedge gateway. Ctrl-C stops everything. --check sends requests through the mesh, reports and exits.',
    examples: ['weft up', 'weft up -f examples/local-mesh.yaml --check'],
    settings: [],
  },
  proxy: {
    usage: ['weft proxy'],
    about: `Runs the sidecar proxy: outbound balancing on ${OUTBOUND_PORT}, inbound mutual TLS on ${INBOUND_PORT}, admin on ${ADMIN_PORT}.\nAll settings come from the environment (the injector writes them into the pod).`,
    examples: ['WEFT_MODE=local WEFT_CA_DIR=.weft/ca WEFT_ENDPOINTS_FILE=.weft/endpoints.json \\\n    WEFT_POD_NAME=web-0 WEFT_SERVICE_ACCOUNT=web weft proxy'],
    settings: ['proxy'],
  },
  gateway: {
    usage: ['weft gateway', 'weft gateway status [--admin host:port] [--json]'],
    about: 'Runs the edge gateway: Gateway API / Ingress routes (or a route file), API policies, mutual TLS\ninto the mesh. All settings come from the environment. `status` prints the Gateway API status\n(conditions per Gateway, listener and route) of a running gateway, read from its admin port.',
    examples: [`weft gateway status --admin 127.0.0.1:${ADMIN_PORT}`, 'WEFT_MODE=local WEFT_GATEWAY_ROUTES_FILE=routes.yaml WEFT_CA_DIR=.weft/ca \\\n    WEFT_ENDPOINTS_FILE=.weft/endpoints.json weft gateway'],
    settings: ['gateway'],
  },
  ca: {
    usage: ['weft ca'],
    about: "Runs the certificate authority: POST /v1/certificates checks the pod's service-account token with\nTokenReview and signs the identity it proves. All settings come from the environment.",
    examples: ['KUBECONFIG=~/.kube/config WEFT_POD_NAMESPACE=weft-system WEFT_CA_GENERATE=true weft ca'],
    settings: ['ca'],
    otherEnv: KUBE_ENV,
  },
  destination: {
    usage: ['weft destination'],
    about: 'Runs the discovery service of Kubernetes mode: proxies ask it for endpoints, addresses and\npolicies over mutual TLS. All settings come from the environment.',
    examples: ['KUBECONFIG=~/.kube/config weft destination'],
    settings: ['destination'],
    otherEnv: KUBE_ENV,
  },
  injector: {
    usage: ['weft injector'],
    about: 'Runs the admission webhook that puts the sidecar into pods. All settings come from the environment.',
    examples: ['WEFT_INJECTOR_TLS_DIR=/var/run/weft/tls weft injector'],
    settings: ['injector'],
  },
  inject: {
    usage: ['weft inject -f <file|-> --trust-anchors <roots.pem> [--image <image>] [--native-sidecars | --no-native-sidecars] [--quiet]'],
    about: 'Writes the YAML with every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob\ninjected, as the webhook would; other kinds pass through. Flags override the WEFT_INJECTOR_* variables.',
    examples: ['weft inject -f deploy.yaml --trust-anchors roots.pem > injected.yaml', 'kubectl get deploy web -o yaml | weft inject -f - --trust-anchors roots.pem | kubectl apply -f -'],
    settings: ['injector'],
  },
  init: {
    usage: ['weft init --dry-run [flags]', 'weft init --apply [flags]'],
    about:
      "Writes the nat rules that route a pod's TCP through the sidecar, in the network namespace it runs in.\n" +
      "It changes rules only in a pod's init container (the injector sets WEFT_INIT_APPLY=true there) or\n" +
      'with --apply; otherwise it refuses (WEFT_ERR_INIT_REFUSED). --dry-run prints the rules and changes nothing.\n' +
      'Every variable below is also a flag.',
    examples: ['weft init --dry-run', 'weft init --dry-run --skip-outbound-cidrs 10.96.0.0/12', 'ip netns exec mypod weft init --apply --inbound-mode strict'],
    settings: ['init'],
  },
  stat: {
    usage: ['weft stat [-f mesh.yaml] [--window 5s|0] [-o table|json]', 'weft stat [--kubeconfig FILE] [-n NAMESPACE | -A] [--window 5s|0] [-o table|json]'],
    about: "Golden metrics per service and per edge (caller -> service) of the mesh `weft up` runs from the same\nmesh file: requests, success rate, requests per second, p50/p95/p99 and the share over mTLS, read from\nthe sidecars' admin ports over a window (two scrapes), or since the sidecars started (--window 0).\nWith --kubeconfig, -n or -A: the meshed pods of a cluster, read through the API server's pods/proxy.",
    examples: ['weft stat', 'weft stat -f examples/local-mesh.yaml --window 0 -o json', 'weft stat -n shop --window 10s'],
    settings: [],
    otherEnv: KUBE_ENV,
  },
  top: {
    usage: ['weft top [-f mesh.yaml | --kubeconfig FILE | -n NAMESPACE | -A] [--window 5s] [--rows 10] [--service NAME] [--path /prefix] [--status 5xx] [-o table|json]'],
    about: "The busiest paths of the mesh now: requests tapped from every sidecar over a window, grouped by\nservice, method and path, with their failures.",
    examples: ['weft top', 'weft top --service hello --window 10s', 'weft top -n shop'],
    settings: [],
    otherEnv: KUBE_ENV,
  },
  tap: {
    usage: ['weft tap [-f mesh.yaml | --kubeconfig FILE | -n NAMESPACE | -A] [--service NAME] [--path /prefix] [--status 500|5xx] [--direction inbound|outbound] [--max N] [-o table|json]'],
    about: 'A live stream of the requests the sidecars finish, matching the filter. Credential headers and\nquery values are always redacted by the sidecars before they leave them. Ctrl-C stops it.',
    examples: ['weft tap --service hello --status 5xx', 'weft tap --path /api --max 20 -o json', 'weft tap -n shop --service hello'],
    settings: [],
    otherEnv: KUBE_ENV,
  },
  dashboard: {
    usage: ['weft dashboard [-f mesh.yaml] [--listen 127.0.0.1:7099] [--window 60s]', 'weft dashboard [--kubeconfig FILE] [-n NAMESPACE | -A] [--listen 127.0.0.1:7099] [--window 60s]'],
    about: 'Serves a web page of the mesh `weft up` runs from the same mesh file: the service graph with\ngolden metrics per service and edge, each service\'s endpoints and its recent failures.\nWith --kubeconfig, -n or -A: the meshed pods of a cluster, read through the API server\'s pods/proxy.',
    examples: ['weft dashboard', 'weft dashboard --listen 127.0.0.1:8099 --window 30s', 'weft dashboard -n shop'],
    settings: [],
    otherEnv: KUBE_ENV,
  },
  authz: {
    usage: ['weft authz explain -f FILE --identity SPIFFE_ID --namespace NS --port PORT [--labels k=v,...] [--method GET --path /x] [--default POLICY] [--trust-domain TD]'],
    about: 'Explains an authorization decision: would this identity be allowed to call METHOD PATH on a pod\nwith these namespace, labels and port, and by which rule. FILE is a mesh file or AuthorizationPolicy YAML.\nExit 0 allowed, 1 denied, 2 bad input.',
    examples: ['weft authz explain -f examples/local-mesh.yaml --identity spiffe://cluster.local/ns/demo/sa/client --namespace demo --port 8080 --method GET --path /'],
    settings: [],
  },
  check: {
    usage: ['weft check [-n weft-system] [--injector-url https://127.0.0.1:8443] [--proxy-admin-port 7020] [-o text|json]'],
    about: 'Checks a cluster running weft: API server and version, native sidecars, RBAC, the CA and expiry,\nthe webhook and its caBundle, and every meshed pod. Exit 0 all passed, 1 a check failed, 2 warnings, 3 could not run.',
    examples: ['weft check', 'weft check -n weft-system -o json'],
    settings: [],
    otherEnv: KUBE_ENV,
  },
  'await-proxy': {
    usage: [`weft await-proxy [--timeout-seconds 120] [--url http://127.0.0.1:${ADMIN_PORT}/ready]`],
    about: "Returns once the local proxy's /ready answers 200: the postStart hook of the fallback (non-native)\nsidecar, so the kubelet starts the app only after the proxy is ready. Exit 1 when the time runs out.",
    examples: ['weft await-proxy', 'weft await-proxy --timeout-seconds 30'],
    settings: [],
  },
};

// One variable as help shows it: name (flag), type, default, then the doc line.
function envLine(row: Setting<unknown>): string {
  const named = row.flag === undefined ? row.name : `${row.name} (${row.flag})`;
  const text = row.type.format(row.default);
  const def = row.defaultDoc ?? (row.required === true ? 'required' : text === '' ? '(none)' : text);
  const required = typeof row.required === 'string' ? `, required in ${row.required} mode` : '';
  const mode = row.mode === undefined ? '' : `, ${row.mode} mode only`;
  return `  ${named}\n      ${row.type.label}; default ${def}${required}${mode}: ${row.doc}`;
}

/** The full help text of one subcommand. */
export function renderCommandHelp(name: string, summary: string, help: CommandHelp): string {
  const lines = [`weft ${name}: ${summary}`, '', 'usage:', ...help.usage.map((u) => `  ${u}`), '', help.about, '', 'examples:', ...help.examples.map((e) => `  ${e}`)];
  const tables: SettingsTable[] = help.settings.map((s) => COMPONENT_SETTINGS[s]).filter((t): t is SettingsTable => t !== undefined);
  if (tables.length > 0) {
    lines.push('', 'environment (also in docs/sidecar-config.md):');
    for (const table of tables) for (const row of Object.values(table)) lines.push(envLine(row));
  }
  if (help.otherEnv !== undefined) lines.push('', 'also reads:', ...help.otherEnv.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

/** The known name nearest to `name` when it is close enough to be a slip, else undefined. */
export function didYouMean(name: string, known: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    // A prefix ("dest") is as good a hint as a typo.
    const d = candidate.startsWith(name) && name.length >= 2 ? 1 : editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}
