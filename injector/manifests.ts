// `weft inject` without the I/O: Kubernetes YAML (one or many documents, `List`s) in, the same
// YAML out with every pod template injected. Edits are made on the YAML tree, so comments and
// key order of injected documents survive; other kinds pass through untouched.
import { isDeepStrictEqual } from 'node:util';
import { Document, isMap, isSeq, parseAllDocuments } from 'yaml';
import { WeftError } from '../lib/errors.js';
import { applyOperations, isObject, parsePointer, prefixOperations, type PatchOperation } from './json-patch.js';
import { planInjection } from './patch.js';
import type { InjectorSettings } from './settings.js';

/** Where each workload kind keeps its pod template. */
export const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** One line of the report `weft inject` prints to stderr. */
export interface InjectReportLine {
  /** kind/name (with the List item index when inside a List). */
  readonly object: string;
  readonly outcome: 'injected' | 'skipped' | 'passed-through';
  readonly detail: string;
}

/** The rewritten YAML and what happened to each object. */
export interface InjectOutput {
  readonly yaml: string;
  readonly report: readonly InjectReportLine[];
  readonly warnings: readonly string[];
}

/**
 * Injects every workload in `text`. Throws WEFT_ERR_MANIFEST on YAML errors and
 * WEFT_ERR_INJECT_REJECTED when a workload asks for settings weft cannot apply; nothing is
 * written in either case.
 */
export function injectManifests(text: string, settings: InjectorSettings): InjectOutput {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) throw new WeftError('WEFT_ERR_MANIFEST', 'the input is not a YAML stream');
  const report: InjectReportLine[] = [];
  const warnings: string[] = [];
  const out: string[] = [];
  docs.forEach((doc, index) => {
    const err = doc.errors[0];
    if (err) throw new WeftError('WEFT_ERR_MANIFEST', `document ${index + 1}: ${err.message}`);
    const js: unknown = doc.toJS({ maxAliasCount: 1000 });
    const ops = planObject(js, '', `document ${index + 1}`, settings, report, warnings);
    if (ops.length > 0) applyToDocument(doc, js, ops);
    out.push(doc.toString({ lineWidth: 0 }));
  });
  // Each document renders with its own `---` marker when it had one; join keeps them apart.
  const yaml = out.map((d, i) => (i > 0 && !d.startsWith('---') ? '---\n' + d : d)).join('');
  return { yaml, report, warnings };
}

function planObject(
  obj: unknown,
  prefix: string,
  where: string,
  settings: InjectorSettings,
  report: InjectReportLine[],
  warnings: string[],
): PatchOperation[] {
  if (!isObject(obj)) return [];
  const kind = typeof obj['kind'] === 'string' ? obj['kind'] : '';
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : typeof meta['generateName'] === 'string' ? meta['generateName'] : '<unnamed>';
  const label = `${kind || '<no kind>'}/${name}`;
  if (Array.isArray(obj['items']) && (kind === 'List' || kind.endsWith('List'))) {
    return obj['items'].flatMap((item, i) => planObject(item, `${prefix}/items/${i}`, `${where} ${label} item ${i}`, settings, report, warnings));
  }
  const templatePath = TEMPLATE_PATHS[kind];
  if (templatePath === undefined) {
    report.push({ object: label, outcome: 'passed-through', detail: `${where}: kind ${kind || '<none>'} has no pod template` });
    return [];
  }
  let template: unknown = obj;
  for (const key of templatePath) template = isObject(template) ? template[key] : undefined;
  if (!isObject(template)) {
    report.push({ object: label, outcome: 'passed-through', detail: `${where}: ${templatePath.join('.')} is missing` });
    return [];
  }
  const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : '';
  // Offline there is no namespace label to read: every workload is injected unless it opts out.
  const result = planInjection({ pod: template, namespace, namespaceInjection: 'enabled', settings });
  warnings.push(...result.warnings.map((w) => `${label}: ${w}`));
  if (result.kind === 'rejected') throw new WeftError(result.code ?? 'WEFT_ERR_INJECT_REJECTED', `${where} ${label}: ${result.message}`);
  if (result.kind === 'skipped') {
    report.push({ object: label, outcome: 'skipped', detail: result.reason });
    return [];
  }
  report.push({ object: label, outcome: 'injected', detail: `${result.patch.length} operations` });
  const templatePointer = templatePath.map((k) => '/' + k).join('');
  return prefixOperations(prefix + templatePointer, result.patch);
}

/** Applies the operations to the YAML tree; falls back to a fresh tree if the two ever disagree. */
function applyToDocument(doc: Document, js: unknown, ops: readonly PatchOperation[]): void {
  const expected = applyOperations(js, ops);
  try {
    for (const o of ops) {
      const tokens = parsePointer(o.path);
      const last = tokens.pop() ?? '';
      const parent = tokens.length === 0 ? doc.contents : doc.getIn(tokens, true);
      const node = doc.createNode(o.value);
      if (isSeq(parent)) {
        if (last === '-') parent.items.push(node);
        else if (o.op === 'add') parent.items.splice(Number(last), 0, node);
        else parent.items[Number(last)] = node;
      } else if (isMap(parent)) {
        parent.set(last, node);
      } else {
        throw new Error(`no map or sequence at ${tokens.join('/')}`);
      }
    }
    if (isDeepStrictEqual(doc.toJS({ maxAliasCount: 1000 }), expected)) return;
  } catch {
    // Anchors and aliases can make the tree and the plain object disagree; the object is right.
  }
  const fresh = new Document(expected);
  doc.contents = fresh.contents;
}
