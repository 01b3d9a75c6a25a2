// Runs the real Helm (the pinned binary scripts/ensure-helm.sh puts in .tools/bin) over charts/weft:
// `helm template` and `helm lint --strict` with a values object, and the rendered documents back.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { parse, parseAllDocuments } from 'yaml';

const root = new URL('../../../', import.meta.url).pathname;
/** The chart directory the tests render. */
export const CHART_DIR = join(root, 'charts/weft');
const HELM = join(root, '.tools/bin/helm');

/** The path of the pinned helm binary, installing it from node_modules when it is missing. */
export function helmBinary(): string {
  if (!existsSync(HELM)) execFileSync('bash', [join(root, 'scripts/ensure-helm.sh')], { stdio: 'inherit' });
  return HELM;
}

/** `helm version` as Helm prints it, e.g. v4.1.4. */
export function helmVersion(): string {
  return execFileSync(helmBinary(), ['version', '--template', '{{.Version}}'], { encoding: 'utf8' }).trim();
}

// Rendered manifests are untyped YAML; the tests read them loosely and assert on the values.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = Record<string, any>;

/** Options of one `helm template` run. */
export interface TemplateOptions {
  readonly namespace?: string;
  readonly releaseName?: string;
  /** --kube-version (default Helm's own, 1.35 for Helm 4.1). */
  readonly kubeVersion?: string;
  /** --api-versions, e.g. monitoring.coreos.com/v1 to say the Prometheus operator is installed. */
  readonly apiVersions?: readonly string[];
}

/** One rendered object and the template (`# Source:`) it came from. */
export interface Rendered {
  readonly text: string;
  readonly docs: readonly Doc[];
  /** The template file of each document, same order as docs. */
  readonly sources: readonly string[];
}

/** What one helm invocation did. */
export interface HelmRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

function withValuesFile<T>(values: Record<string, unknown>, fn: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'weft-chart-'));
  try {
    const file = join(dir, 'values.json');
    // JSON is YAML, and keeps nulls (Helm's "delete this default" rule) exactly as written.
    writeFileSync(file, JSON.stringify(values));
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function templateArgs(file: string, opts: TemplateOptions): string[] {
  const args = ['template', opts.releaseName ?? 'weft', CHART_DIR, '--namespace', opts.namespace ?? 'weft-system', '-f', file];
  if (opts.kubeVersion) args.push('--kube-version', opts.kubeVersion);
  for (const v of opts.apiVersions ?? []) args.push('--api-versions', v);
  return args;
}

/** Runs `helm template`; a failure is returned, not thrown (tests expect some). */
export function helmTemplateRun(values: Record<string, unknown> = {}, opts: TemplateOptions = {}): HelmRun {
  return withValuesFile(values, (file) => {
    const r = spawnSync(helmBinary(), templateArgs(file, opts), { encoding: 'utf8', maxBuffer: 64 << 20 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  });
}

/** Renders the chart with Helm and parses every object; throws with Helm's message on failure. */
export function helmTemplate(values: Record<string, unknown> = {}, opts: TemplateOptions = {}): Rendered {
  const run = helmTemplateRun(values, opts);
  if (run.status !== 0) throw new Error(`helm template failed (${run.status}): ${run.stderr}`);
  return parseRendered(run.stdout);
}

/** Splits `helm template` output into objects, each with its `# Source:` template. */
export function parseRendered(text: string): Rendered {
  const docs: Doc[] = [];
  const sources: string[] = [];
  for (const d of parseAllDocuments(text)) {
    const obj = d.toJS() as Doc | null;
    if (obj === null || typeof obj !== 'object') continue;
    docs.push(obj);
    const source = /# Source: (\S+)/.exec(String(d.commentBefore ?? ''))?.[1] ?? '';
    sources.push(source.replace(/^weft\//, ''));
  }
  return { text, docs, sources };
}

/** Runs `helm lint --strict` with the values. */
export function helmLint(values: Record<string, unknown> = {}): HelmRun {
  return withValuesFile(values, (file) => {
    const r = spawnSync(helmBinary(), ['lint', '--strict', CHART_DIR, '-f', file], { encoding: 'utf8' });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  });
}

/** values.yaml as parsed. */
export function defaultValues(): Record<string, unknown> {
  return parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Helm's coalescing of user values over defaults: maps merge, a null deletes the default key. */
export function coalesce(defaults: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(defaults);
  for (const [k, v] of Object.entries(overrides)) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = coalesce(out[k], v);
    else out[k] = structuredClone(v);
  }
  return out;
}

/** The merged values Helm would validate: the defaults with the overrides coalesced over them. */
export function chartValues(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return coalesce(defaultValues(), overrides);
}

/** The first object of a kind and name. */
export function find(r: Rendered, kind: string, name: string): Doc | undefined {
  return r.docs.find((d) => d.kind === kind && d.metadata?.name === name);
}

/** The env value of a Deployment's first container. */
export function env(dep: Doc | undefined, name: string): string | undefined {
  return (dep?.spec?.template?.spec?.containers?.[0]?.env as { name: string; value?: string }[] | undefined)?.find((e) => e.name === name)?.value;
}

/** One row of a variants table: values, Helm options, and what the render must show. */
export interface Variant {
  readonly name: string;
  readonly values: Record<string, unknown>;
  readonly opts?: TemplateOptions;
  readonly check?: (t: Test, r: Rendered) => void;
}
