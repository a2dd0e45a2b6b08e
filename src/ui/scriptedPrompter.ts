import { type InputOptions, type PickItem, type PickOptions, type Prompter } from './prompter';
import { CancelledError } from '../api/errors';

/** One scripted answer: the label (or a unique part of it) to pick, text to type, a confirmation, a notification action, a save dialog's file, or a dismissal. */
export type ScriptedAnswer =
  | { readonly pick: string }
  | { readonly save: string }
  | { readonly input: string }
  | { readonly confirm: boolean }
  | { readonly action: string }
  | { readonly dismiss: true };

/** What a flow asked, for tests to assert on (the confirmation names the rate, …). */
export interface SeenPrompt {
  readonly kind: 'pick' | 'input' | 'confirm' | 'notify' | 'save';
  readonly text: string;
  readonly detail?: string;
  readonly items?: readonly string[];
  /** An input asked again after its check refused the previous answer: the message the box showed. */
  readonly validationMessage?: string;
}

/**
 * A Prompter for the host tests: answers from a queue the test fills through a hidden command, and
 * records every question. A question without a scripted answer fails at once instead of hanging
 * the test; notifications without one are recorded and dismissed.
 */
export class ScriptedPrompter implements Prompter {
  private readonly answers: ScriptedAnswer[] = [];
  readonly seen: SeenPrompt[] = [];

  script(answers: readonly ScriptedAnswer[]): void {
    this.answers.push(...answers);
  }

  reset(): void {
    this.answers.length = 0;
    this.seen.length = 0;
  }

  pick<T>(items: readonly PickItem<T>[], options: PickOptions): Promise<T> {
    const labels = items.map((i) => i.label);
    this.seen.push({ kind: 'pick', text: options.title, items: labels });
    const a = this.next('pick', options.title);
    if ('dismiss' in a) return Promise.reject(new CancelledError());
    if (!('pick' in a)) return Promise.reject(new Error(`Scripted answer for "${options.title}" is not a pick.`));
    const exact = items.find((i) => i.label === a.pick);
    const matches = exact ? [exact] : items.filter((i) => `${i.label} ${i.description ?? ''}`.includes(a.pick));
    if (matches.length !== 1) return Promise.reject(new Error(`"${a.pick}" matches ${matches.length} of ${JSON.stringify(labels)} in "${options.title}".`));
    return Promise.resolve(matches[0].value);
  }

  async input(options: InputOptions): Promise<string> {
    let validationMessage: string | undefined;
    for (;;) {
      this.seen.push({ kind: 'input', text: options.title, ...(validationMessage === undefined ? {} : { validationMessage }) });
      const a = this.next('input', options.title);
      if ('dismiss' in a) throw new CancelledError();
      if (!('input' in a)) throw new Error(`Scripted answer for "${options.title}" is not an input.`);
      const problem = options.validate?.(a.input);
      if (problem) throw new Error(`Input "${a.input}" rejected by "${options.title}": ${problem}`);
      // Like the real box: a refused answer stays asked, showing why, and the next scripted answer is typed into it.
      validationMessage = options.check ? await options.check(a.input, new AbortController().signal) : undefined;
      if (validationMessage === undefined) return a.input;
    }
  }

  confirm(message: string, detail: string): Promise<boolean> {
    this.seen.push({ kind: 'confirm', text: message, detail });
    const a = this.next('confirm', message);
    return Promise.resolve('confirm' in a && a.confirm);
  }

  /** Answered by `{confirm: true}` (the first action), `{confirm: false}` (Cancel) or `{action}` (that action). */
  choose(message: string, detail: string, actions: readonly string[]): Promise<string | undefined> {
    this.seen.push({ kind: 'confirm', text: message, detail, items: actions });
    const a = this.next('confirm', message);
    if ('action' in a) return actions.includes(a.action) ? Promise.resolve(a.action) : Promise.reject(new Error(`"${a.action}" is not one of ${JSON.stringify(actions)} in "${message}".`));
    return Promise.resolve('confirm' in a && a.confirm ? actions[0] : undefined);
  }

  notify(_severity: 'info' | 'warning' | 'error', message: string, ...actions: string[]): Promise<string | undefined> {
    this.seen.push({ kind: 'notify', text: message, items: actions });
    const a = this.answers[0];
    if (a && 'action' in a && actions.includes(a.action)) {
      this.answers.shift();
      return Promise.resolve(a.action);
    }
    return Promise.resolve(undefined);
  }

  /** Answered by `{save: path}` (the file the user chose, having confirmed a replace in the dialog) or `{dismiss: true}`. */
  saveAs(options: { readonly title: string; readonly defaultPath: string }): Promise<string> {
    this.seen.push({ kind: 'save', text: options.title, detail: options.defaultPath });
    const a = this.next('save', options.title);
    if ('dismiss' in a) return Promise.reject(new CancelledError());
    if (!('save' in a)) return Promise.reject(new Error(`Scripted answer for "${options.title}" is not a save.`));
    return Promise.resolve(a.save);
  }

  private next(kind: string, what: string): ScriptedAnswer {
    const a = this.answers.shift();
    if (!a) throw new Error(`Unscripted ${kind} "${what}": the test did not say how to answer it.`);
    return a;
  }
}
