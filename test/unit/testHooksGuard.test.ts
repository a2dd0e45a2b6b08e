import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '../../..');
const file = path.join(root, 'src/testHooks.ts');

/** Every identifier and string literal of a TypeScript file (comments are not code, so they do not count). */
function namesAndStrings(source: string): { names: string[]; strings: string[]; imports: string[] } {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const names: string[] = [];
  const strings: string[] = [];
  const imports: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) names.push(node.text);
    else if (ts.isStringLiteralLike(node)) strings.push(node.text);
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) imports.push(node.moduleSpecifier.text);
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) imports.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { names, strings, imports };
}

/**
 * The hidden test commands run inside the extension under the host tests. They must not be a way to
 * the token: this reads their source and fails when it reaches SecretStorage, the CredentialStore
 * or a token getter, by import, by property or by name in a string. (The lint rule for
 * src/testHooks.ts says the same; this holds even if the rule is edited away.)
 */
describe('test hooks cannot reach the token', () => {
  const code = namesAndStrings(fs.readFileSync(file, 'utf8'));

  it('import nothing from src/auth', () => {
    const auth = code.imports.filter((i) => path.resolve(path.dirname(file), i).startsWith(path.join(root, 'src/auth')));
    assert.deepEqual(auth, []);
  });

  it('name no secret store, credential store or token getter', () => {
    const forbidden = /^(secrets|SecretStorage|ExtensionContext|CredentialStore|Credentials?|credentials|getToken|token|tokens)$/;
    assert.deepEqual([...new Set(code.names.filter((n) => forbidden.test(n)))], []);
    assert.deepEqual(code.strings.filter((s) => /secret|token|credential/i.test(s)), []);
  });

  it('are still the state and script commands (so this guard reads the right file)', () => {
    assert.ok(code.names.includes('registerTestHooks') && code.names.includes('TestCommandIds'));
  });
});
