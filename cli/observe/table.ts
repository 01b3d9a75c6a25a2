// Plain-text tables and number formats for the observing commands' terminal output (pure).

/** Rows as left-aligned columns separated by two spaces. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A share (0..1) as a percentage with two decimals; "-" when unknown. */
export function percent(share: number | null): string {
  return share === null ? '-' : `${(share * 100).toFixed(2)}%`;
}

/** A number with `digits` decimals and a unit; "-" when unknown. */
export function num(value: number | null, digits: number, unit = ''): string {
  return value === null ? '-' : `${value.toFixed(digits)}${unit}`;
}
