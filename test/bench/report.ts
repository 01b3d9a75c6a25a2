// The shape every benchmark section returns, so `npm run bench` prints one table per section
// with each weft figure beside the baseline measured in the same run.

/** One measured figure: weft's value and, where there is one, the baseline's. */
export interface BenchRow {
  /** What was measured, with its unit: "requests/s @16 conns", "p99 ms", "peak RSS MB". */
  readonly figure: string;
  readonly weft: number;
  /** The baseline's value for the same figure in the same run, when the section has a baseline. */
  readonly baseline?: number;
  /** The goal, as text ("<= 5 ms", ">= 0.5x nginx"), printed beside the figure. */
  readonly goal?: string;
  /** Whether weft met the goal (undefined when the row has none). */
  readonly met?: boolean;
}

/** A section of the report. */
export interface BenchSection {
  readonly title: string;
  /** The baseline's name ("nginx 1.22 pair"), when the section has one. */
  readonly baselineName?: string;
  readonly rows: readonly BenchRow[];
  /** Free-form notes printed under the table (what limits a figure, the setup). */
  readonly notes?: readonly string[];
  /** A second table printed under the first, one row per contender (the mesh section's per-row columns). */
  readonly table?: { readonly head: readonly string[]; readonly rows: readonly (readonly string[])[] };
}

/** Renders a section as an aligned text table with a weft/baseline ratio column. */
export function renderSection(section: BenchSection): string {
  const head = ['figure', 'weft', section.baselineName ?? 'baseline', 'ratio', 'goal'];
  const fmt = (n: number | undefined): string =>
    n === undefined ? '-' : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
  const rows = section.rows.map((r) => [
    r.figure,
    fmt(r.weft),
    fmt(r.baseline),
    r.baseline ? `${(r.weft / r.baseline).toFixed(2)}x` : '-',
    r.goal === undefined ? '' : `${r.goal} ${r.met === undefined ? '' : r.met ? '(met)' : '(NOT met)'}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const out = [`== ${section.title}`, line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  if (section.table) {
    const t = section.table;
    const w = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
    const tline = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ').trimEnd();
    out.push('', tline(t.head), tline(w.map((n) => '-'.repeat(n))), ...t.rows.map(tline));
  }
  for (const note of section.notes ?? []) out.push(`   ${note}`);
  return out.join('\n') + '\n';
}
