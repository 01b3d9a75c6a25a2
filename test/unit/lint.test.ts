// The project's lint configuration, driven through ESLint's Node API: what `npm test` refuses.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';

const root = fileURLToPath(new URL('../../', import.meta.url));
// The fixture text is linted as if it were cli/main.ts (the file package.json's `bin` names, so it
// stays put): a production path, type-checked inside the project's own TypeScript program.
const asProduction = `${root}cli/main.ts`;
// And as this file, to show the test folders keep the promise rules.
const asTest = fileURLToPath(import.meta.url);
// With CI=true typescript-eslint infers a "single run" and builds its program once from the files
// on disk, so text linted under another file's name would be checked against that file's types.
const eslint = new ESLint({ cwd: root, overrideConfig: { languageOptions: { parserOptions: { disallowAutomaticSingleRunInference: true } } } });

async function lint(code: string, filePath: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(code, { filePath });
  if (!result) throw new Error('ESLint returned no result');
  return result.messages;
}

const rules = (messages: Linter.LintMessage[]): (string | null)[] => messages.map((m) => m.ruleId);

t.test('a promise whose rejection nobody handles is a no-floating-promises error, in production code and in tests', async (t) => {
  const code = ['// fixture', 'export function f(p: Promise<number>): void {', '  p.then((n) => n + 1);', '}', ''].join('\n');
  for (const path of [asProduction, asTest]) {
    const messages = await lint(code, path);
    t.same(rules(messages), ['@typescript-eslint/no-floating-promises'], path);
    t.equal(messages[0]?.severity, 2, 'an error, so npm test fails');
    t.equal(messages[0]?.line, 3);
  }
});

t.test('`void` does not excuse an unhandled promise; a catch does', async (t) => {
  const code = ['// fixture', 'export function f(p: Promise<number>): void {', '  void p.then((n) => n + 1);', '  p.then((n) => n + 1).catch(() => undefined);', '  void p.then(() => 1, () => 2);', '}', ''].join('\n');
  const messages = await lint(code, asProduction);
  t.same(rules(messages), ['@typescript-eslint/no-floating-promises']);
  t.equal(messages[0]?.line, 3, 'only the void without a rejection handler');
});

t.test('an async callback where a void one is expected is a no-misused-promises error', async (t) => {
  const code = ['// fixture', "import { EventEmitter } from 'node:events';", 'export function f(e: EventEmitter, g: () => Promise<void>): void {', "  e.on('x', async () => {", '    await g();', '  });', '}', ''].join('\n');
  const messages = await lint(code, asProduction);
  t.same(rules(messages), ['@typescript-eslint/no-misused-promises']);
  t.equal(messages[0]?.severity, 2);
});

t.test('a production file over 450 lines is an error; 450 lines pass', async (t) => {
  const body = (lines: number): string => ['// fixture', ...Array.from({ length: lines - 1 }, (_, i) => `export const v${i} = ${i};`), ''].join('\n');
  t.same(rules(await lint(body(450), asProduction)), []);
  const over = await lint(body(451), asProduction);
  t.same(rules(over), ['max-lines']);
  t.equal(over[0]?.severity, 2);
});
