// The outcome of `weft check`: one result per check, the exit status they add up to, and the
// text a person reads (in the spirit of `linkerd check`: a mark, what was checked, what to do).

/** How one check came out. skip: it could not run because an earlier check failed. */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** One line of the report. */
export interface CheckResult {
  /** Stable id, e.g. "ca-issuer-expiry"; tests and scripts match on it. */
  readonly id: string;
  /** The heading it is printed under. */
  readonly category: string;
  readonly status: CheckStatus;
  /** What was found, one sentence. */
  readonly message: string;
  /** What to do about it; every warn and fail has one. */
  readonly advice?: string;
}

/** Exit status of `weft check`: 0 all passed, 1 something failed, 2 warnings only. */
export function exitStatus(results: readonly CheckResult[]): 0 | 1 | 2 {
  if (results.some((r) => r.status === 'fail')) return 1;
  if (results.some((r) => r.status === 'warn')) return 2;
  return 0;
}

const MARK: Readonly<Record<CheckStatus, string>> = { pass: '√', warn: '‼', fail: '×', skip: '-' };

/** The report as text, grouped by category in the order the checks ran. */
export function formatResults(results: readonly CheckResult[]): string {
  const lines: string[] = [];
  let category = '';
  for (const r of results) {
    if (r.category !== category) {
      if (category !== '') lines.push('');
      category = r.category;
      lines.push(category, '-'.repeat(category.length));
    }
    lines.push(`${MARK[r.status]} ${r.message}`);
    if (r.advice && r.status !== 'pass') lines.push(...r.advice.split('\n').map((l) => `    ${l}`));
  }
  const count = (s: CheckStatus): number => results.filter((r) => r.status === s).length;
  const code = exitStatus(results);
  lines.push('', `Status check results are ${code === 0 ? '√' : code === 2 ? '‼' : '×'} (${count('pass')} passed, ${count('warn')} warnings, ${count('fail')} failed, ${count('skip')} skipped)`);
  return `${lines.join('\n')}\n`;
}
