// The flags the observing commands share (pure): the mesh file or the cluster (Kubernetes mode),
// the output form, a window and the tap filter.
import { DEFAULT_MESH_FILE } from './targets.js';

/** Parsed flags; each command reads the ones it takes. */
export interface ObserveArgs {
  readonly file: string;
  readonly output: 'table' | 'json';
  readonly windowMs: number;
  readonly service: string;
  readonly path: string;
  readonly status: string;
  readonly direction: string;
  /** Stop after this many events (tap); 0: until Ctrl-C. */
  readonly max: number;
  /** Rows to show (top). */
  readonly rows: number;
  /** Address to serve on (dashboard). */
  readonly listen: string;
  /** Kubernetes mode: read the cluster's meshed pods instead of a mesh file (any of the three flags below). */
  readonly kube: boolean;
  /** Kubernetes mode: the kubeconfig file ('' : KUBECONFIG, else the in-cluster account). */
  readonly kubeconfig: string;
  /** Kubernetes mode: the namespace ('' : the kubeconfig context's). */
  readonly namespace: string;
  /** Kubernetes mode: every namespace. */
  readonly allNamespaces: boolean;
}

/** A flag of the observing commands. */
export type Flag = 'file' | 'output' | 'window' | 'service' | 'path' | 'status' | 'direction' | 'max' | 'rows' | 'listen' | 'kubeconfig' | 'namespace' | 'allNamespaces';

/** The Kubernetes-mode flags, for the commands that take them. */
export const KUBE_FLAGS: readonly Flag[] = ['kubeconfig', 'namespace', 'allNamespaces'];

// Flags that take no value.
const SWITCHES: ReadonlySet<Flag> = new Set(['allNamespaces']);

const FLAGS: Readonly<Record<string, Flag>> = {
  '-f': 'file', '--file': 'file', '-o': 'output', '--output': 'output', '--window': 'window', '--service': 'service',
  '--path': 'path', '--status': 'status', '--direction': 'direction', '--max': 'max', '--rows': 'rows', '--listen': 'listen',
  '--kubeconfig': 'kubeconfig', '-n': 'namespace', '--namespace': 'namespace', '-A': 'allNamespaces', '--all-namespaces': 'allNamespaces',
};

/** Parses `argv` against the flags `allowed`; returns a problem to print with the usage otherwise. */
export function parseObserveArgs(argv: readonly string[], allowed: readonly Flag[], defaults: { windowMs: number }): ObserveArgs | string {
  const values = new Map<Flag, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const flag = FLAGS[name];
    if (!flag || !allowed.includes(flag)) return `unknown argument ${JSON.stringify(a)}`;
    if (SWITCHES.has(flag)) {
      if (eq > 0 && a.startsWith('--')) return `${name} takes no value`;
      values.set(flag, 'true');
      continue;
    }
    const value = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) return `${name} needs a value`;
    values.set(flag, value);
  }
  const output = values.get('output') ?? 'table';
  if (output !== 'table' && output !== 'json') return `--output ${JSON.stringify(output)}: use table or json`;
  const windowText = values.get('window');
  const windowMs = windowText === undefined ? defaults.windowMs : durationMs(windowText);
  if (Number.isNaN(windowMs)) return `--window ${JSON.stringify(windowText)}: use a duration such as 5s, 500ms or 0`;
  const max = Number(values.get('max') ?? 0);
  if (!Number.isInteger(max) || max < 0) return `--max ${JSON.stringify(values.get('max'))}: use a whole number`;
  const rows = Number(values.get('rows') ?? 10);
  if (!Number.isInteger(rows) || rows < 1) return `--rows ${JSON.stringify(values.get('rows'))}: use a whole number above 0`;
  const direction = values.get('direction') ?? '';
  if (direction !== '' && direction !== 'inbound' && direction !== 'outbound') return `--direction ${JSON.stringify(direction)}: use inbound or outbound`;
  const kube = KUBE_FLAGS.some((f) => values.has(f));
  if (kube && values.has('file')) return '-f (a local mesh) and --kubeconfig / -n / -A (a cluster) exclude each other';
  if (values.has('namespace') && values.has('allNamespaces')) return '-n and -A exclude each other';
  if (values.get('namespace') === '') return '-n needs a namespace';
  return {
    file: values.get('file') ?? DEFAULT_MESH_FILE,
    output,
    windowMs,
    service: values.get('service') ?? '',
    path: values.get('path') ?? '',
    status: values.get('status') ?? '',
    direction,
    max,
    rows,
    listen: values.get('listen') ?? '127.0.0.1:7099',
    kube,
    kubeconfig: values.get('kubeconfig') ?? '',
    namespace: values.get('namespace') ?? '',
    allNamespaces: values.has('allNamespaces'),
  };
}

/** "5s", "500ms", "1m", "0" -> milliseconds; NaN when unreadable. */
export function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : m[2] === 's' || n === 0 ? n * 1000 : NaN;
}
