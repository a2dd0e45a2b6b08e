/**
 * Every command id the extension contributes, in one place. A unit test checks this object against
 * `package.json`, and a host test checks it against what VS Code actually registered.
 * Deliberately free of `vscode` imports so plain-Node tests can load it.
 */
export const CommandIds = {
  signIn: 'runcomfy.signIn',
  signOut: 'runcomfy.signOut',
  showLog: 'runcomfy.showLog',
} as const;

export type CommandId = (typeof CommandIds)[keyof typeof CommandIds];

/** Registered only when the test hooks are on (`RUNCOMFY_TEST_HOOKS=1`); never contributed in the manifest. */
export const TestCommandIds = {
  state: 'runcomfy.test.state',
  storeSecret: 'runcomfy.test.storeSecret',
} as const;

export const ContextKeys = {
  signedIn: 'runcomfy.signedIn',
} as const;

export const ViewIds = {
  workflows: 'runcomfy.workflows',
  machines: 'runcomfy.machines',
} as const;
