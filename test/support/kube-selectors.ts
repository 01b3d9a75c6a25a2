// Label and field selectors as the Kubernetes API server parses them (k8s.io/apimachinery
// pkg/labels and pkg/fields), for the test API server.

/** One parsed label requirement. */
export type LabelRequirement =
  | { readonly op: 'eq' | 'neq'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists' | 'notexists'; readonly key: string };

/** A parsed selector: every requirement must hold. */
export type LabelSelector = readonly LabelRequirement[];

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?$/;

/** Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`; returns an error message when invalid. */
export function parseLabelSelector(text: string): LabelSelector | string {
  const out: LabelRequirement[] = [];
  // Split on commas that are not inside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') {
      if (text.trim() === '') continue;
      return `unable to parse requirement: found '', expected: identifier`;
    }
    let m = /^(!)?\s*([^\s=!(),]+)$/.exec(part);
    if (m) {
      const key = m[2] ?? '';
      if (!KEY.test(key)) return `invalid label key "${key}"`;
      out.push({ op: m[1] ? 'notexists' : 'exists', key });
      continue;
    }
    m = /^([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(part);
    if (m) {
      const key = m[1] ?? '';
      const value = m[3] ?? '';
      if (!KEY.test(key)) return `invalid label key "${key}"`;
      if (!VALUE.test(value)) return `invalid label value: "${value}"`;
      out.push({ op: m[2] === '!=' ? 'neq' : 'eq', key, value });
      continue;
    }
    m = /^([^\s=!(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
    if (m) {
      const key = m[1] ?? '';
      if (!KEY.test(key)) return `invalid label key "${key}"`;
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      for (const v of values) if (!VALUE.test(v)) return `invalid label value: "${v}"`;
      out.push({ op: m[2] === 'in' ? 'in' : 'notin', key, values });
      continue;
    }
    return `unable to parse requirement: ${JSON.stringify(part)}`;
  }
  return out;
}

/** True when `labels` satisfy every requirement. */
export function labelsMatch(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'eq':
        return has && v === r.value;
      case 'neq':
        return !has || v !== r.value;
      case 'in':
        return has && r.values.includes(v ?? '');
      case 'notin':
        return !has || !r.values.includes(v ?? '');
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}

/** One field requirement (`=`/`==` or `!=`). */
export interface FieldRequirement {
  readonly field: string;
  readonly value: string;
  readonly negate: boolean;
}

/** Parses `metadata.name=x,status.phase!=Running`; returns an error message when invalid. */
export function parseFieldSelector(text: string): FieldRequirement[] | string {
  const out: FieldRequirement[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(part);
    if (!m) return `invalid selector: '${part}'; can't understand '${part}'`;
    out.push({ field: (m[1] ?? '').trim(), value: (m[3] ?? '').trim(), negate: m[2] === '!=' });
  }
  return out;
}
