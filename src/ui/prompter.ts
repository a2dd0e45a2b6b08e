import * as vscode from 'vscode';
import { CancelledError } from '../api/errors';

/** One choice in a quick pick; `value` is what the caller gets back. */
export interface PickItem<T> extends vscode.QuickPickItem {
  readonly value: T;
}

export interface PickOptions {
  readonly title: string;
  readonly placeholder?: string;
  /** Label of the item selected when the picker opens. */
  readonly activeLabel?: string;
}

export interface InputOptions {
  readonly title: string;
  readonly prompt: string;
  readonly value?: string;
  readonly placeholder?: string;
  readonly password?: boolean;
  readonly validate?: (value: string) => string | undefined;
  /**
   * Runs once the user accepts a value that passed `validate` (not on every keystroke: it may send a
   * request). The box stays open, busy and showing `checkingPrompt`, until it resolves: undefined
   * accepts the value; a message is shown in the box, where the user may edit the value and accept
   * again, or cancel. Its signal aborts when the user cancels meanwhile.
   */
  readonly check?: (value: string, signal: AbortSignal) => Promise<string | undefined>;
  /** The prompt while `check` runs ("Checking the token…"). */
  readonly checkingPrompt?: string;
}

/**
 * Every question the extension asks the user goes through here: quick picks, input boxes, modal
 * confirmations and notifications with actions. The host tests swap in scripted answers
 * (see testHooks.ts), so multi-step flows run their real code under test. A dismissed question
 * rejects with CancelledError, which commands treat as "stop quietly".
 */
export interface Prompter {
  pick<T>(items: readonly PickItem<T>[], options: PickOptions): Promise<T>;
  input(options: InputOptions): Promise<string>;
  /** A modal yes/no; resolves true only when `confirmLabel` was chosen. */
  confirm(message: string, detail: string, confirmLabel: string): Promise<boolean>;
  /** A modal warning with several actions (the first is the default); resolves with the one chosen, undefined on Cancel. */
  choose(message: string, detail: string, actions: readonly string[]): Promise<string | undefined>;
  /** A notification; resolves with the action chosen, or undefined when dismissed. */
  notify(severity: 'info' | 'warning' | 'error', message: string, ...actions: string[]): Promise<string | undefined>;
  /**
   * A save dialog starting at `defaultPath`; resolves with the chosen file's path. The dialog itself
   * asks before the user picks a file that exists (the operating system's and VS Code's both do).
   */
  saveAs(options: { readonly title: string; readonly defaultPath: string; readonly filters?: Record<string, string[]> }): Promise<string>;
}

/** The real thing: VS Code's quick picks, input boxes and notifications. */
export class WindowPrompter implements Prompter {
  async pick<T>(items: readonly PickItem<T>[], options: PickOptions): Promise<T> {
    const qp = vscode.window.createQuickPick<PickItem<T>>();
    try {
      qp.title = options.title;
      qp.placeholder = options.placeholder;
      qp.matchOnDescription = true;
      qp.matchOnDetail = true;
      qp.ignoreFocusOut = true;
      qp.items = items;
      const active = items.find((i) => i.label === options.activeLabel);
      if (active) qp.activeItems = [active];
      const picked = await new Promise<PickItem<T> | undefined>((resolve) => {
        qp.onDidAccept(() => resolve(qp.selectedItems[0] ?? qp.activeItems[0]));
        qp.onDidHide(() => resolve(undefined));
        qp.show();
      });
      if (!picked) throw new CancelledError();
      return picked.value;
    } finally {
      qp.dispose();
    }
  }

  async input(options: InputOptions): Promise<string> {
    if (!options.check) {
      const v = await vscode.window.showInputBox({
        title: options.title,
        prompt: options.prompt,
        value: options.value,
        placeHolder: options.placeholder,
        password: options.password,
        ignoreFocusOut: true,
        validateInput: options.validate,
      });
      if (v === undefined) throw new CancelledError();
      return v;
    }
    return this.checkedInput(options, options.check);
  }

  /** An input box that stays open while `check` judges the accepted value, and shows its verdict. */
  private async checkedInput(options: InputOptions, check: NonNullable<InputOptions['check']>): Promise<string> {
    const box = vscode.window.createInputBox();
    const aborter = new AbortController();
    try {
      box.title = options.title;
      box.prompt = options.prompt;
      box.value = options.value ?? '';
      box.placeholder = options.placeholder;
      box.password = options.password ?? false;
      box.ignoreFocusOut = true;
      return await new Promise<string>((resolve, reject) => {
        box.onDidChangeValue((v) => (box.validationMessage = options.validate?.(v)));
        box.onDidHide(() => {
          aborter.abort();
          reject(new CancelledError());
        });
        box.onDidAccept(() => {
          const value = box.value;
          const problem = options.validate?.(value);
          if (problem || box.busy) {
            box.validationMessage = problem;
            return;
          }
          box.busy = true;
          box.enabled = false;
          box.validationMessage = undefined;
          box.prompt = options.checkingPrompt ?? options.prompt;
          check(value, aborter.signal).then(
            (verdict) => {
              if (verdict === undefined) return resolve(value);
              box.busy = false;
              box.enabled = true;
              box.prompt = options.prompt;
              box.validationMessage = verdict;
            },
            (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
          );
        });
        box.show();
      });
    } finally {
      aborter.abort();
      box.dispose();
    }
  }

  async confirm(message: string, detail: string, confirmLabel: string): Promise<boolean> {
    return (await vscode.window.showWarningMessage(message, { modal: true, detail }, confirmLabel)) === confirmLabel;
  }

  async choose(message: string, detail: string, actions: readonly string[]): Promise<string | undefined> {
    return vscode.window.showWarningMessage(message, { modal: true, detail }, ...actions);
  }

  async notify(severity: 'info' | 'warning' | 'error', message: string, ...actions: string[]): Promise<string | undefined> {
    const show =
      severity === 'info' ? vscode.window.showInformationMessage : severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
    return show(message, ...actions);
  }

  async saveAs(options: { readonly title: string; readonly defaultPath: string; readonly filters?: Record<string, string[]> }): Promise<string> {
    const uri = await vscode.window.showSaveDialog({ title: options.title, defaultUri: vscode.Uri.file(options.defaultPath), filters: options.filters, saveLabel: 'Save' });
    if (!uri) throw new CancelledError();
    return uri.fsPath;
  }
}
