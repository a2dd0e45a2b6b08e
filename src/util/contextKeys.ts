import * as vscode from 'vscode';

/** Sets `when`-clause context keys and remembers the values, so the test hooks can report them. */
export class ContextKeyService {
  private readonly values = new Map<string, unknown>();

  async set(key: string, value: unknown): Promise<void> {
    if (this.values.has(key) && this.values.get(key) === value) return;
    this.values.set(key, value);
    await vscode.commands.executeCommand('setContext', key, value);
  }

  snapshot(): Record<string, unknown> {
    return Object.fromEntries(this.values);
  }
}
