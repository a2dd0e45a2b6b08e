// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noVscode = {
  paths: [{ name: 'vscode', message: 'src/base, src/api, src/core, src/cli and src/simulator must not depend on VS Code (see docs/ARCHITECTURE.md).' }],
};

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', 'tools/**', '.vscode-test/**', 'recordings/**', '.scratch*/**', '.demo/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      curly: ['error', 'multi-line'],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-empty-function': 'off',
      '@typescript-eslint/prefer-nullish-coalescing': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-warning-comments': ['error', { terms: ['todo', 'fixme', 'xxx'], location: 'start' }],
    },
  },
  {
    files: ['src/api/**', 'src/core/**', 'src/cli/**', 'src/simulator/**', 'test/unit/**', 'bench/**'],
    rules: { 'no-restricted-imports': ['error', noVscode] },
  },
  {
    // The base layer is below everything: no VS Code, and nothing of the project outside src/base.
    files: ['src/base/**'],
    rules: {
      'no-restricted-imports': ['error', { ...noVscode, patterns: [{ group: ['../*'], message: 'src/base imports only Node and other src/base files (see docs/ARCHITECTURE.md).' }] }],
    },
  },
  {
    // Commands use the ui layer (prompter, status bar); ui may name a command by id, nothing more.
    files: ['src/ui/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../commands/*', '!../commands/commandIds'], message: 'src/ui must not import commands (only their ids): commands depend on ui, not the other way.' }] }],
    },
  },
  {
    // The hidden test commands run inside the extension: they must not reach the token (issue 10, item 9).
    files: ['src/testHooks.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['./auth/*', '../auth/*'], message: 'Test hooks must not reach the credentials: they may read facts, never secrets.' }] }],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'Identifier[name=/^(secrets|SecretStorage|ExtensionContext|CredentialStore|Credentials|credentials|getToken|token)$/]',
          message: 'Test hooks must not reach SecretStorage, the CredentialStore or a token getter.',
        },
        { selector: 'Literal[value=/secret|token|credential/i]', message: 'Test hooks must not name secrets, even by string.' },
      ],
    },
  },
  {
    // Host tests drive the extension through its commands; importing src/ would load a second copy.
    files: ['test/integration/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/src/**', '../../src/*'], message: 'Integration tests must not import src/: drive the extension through its commands.' }] }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly',
        setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly',
        Buffer: 'readonly', URL: 'readonly', fetch: 'readonly', AbortController: 'readonly', performance: 'readonly',
      },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
);
