/**
 * The smallest `vscode` module that lets the extension's own code run in plain Node for the
 * benchmark: value classes (Range, CodeLens, Uri, …) that hold what they are given, and a window,
 * workspace and command registry that accept registrations and answer "nothing there". No VS Code
 * behaviour is imitated beyond that, so what is timed is the extension's code, not the stub's.
 * `installVscodeStub()` makes `require('vscode')` resolve to it.
 */
import Module from 'node:module';
import * as path from 'node:path';

type Listener<T> = (e: T) => unknown;
interface Disposable {
  dispose(): unknown;
}
const none: Disposable = { dispose: () => undefined };
const noEvent = () => none;

class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

class DisposableClass {
  constructor(private readonly fn: () => unknown) {}
  static from(...items: Disposable[]): DisposableClass {
    return new DisposableClass(() => items.forEach((d) => d.dispose()));
  }
  dispose(): void {
    this.fn();
  }
}

class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(startLine: number, startCharacter: number, endLine: number, endCharacter: number) {
    this.start = new Position(startLine, startCharacter);
    this.end = new Position(endLine, endCharacter);
  }
}

class CodeLens {
  constructor(
    readonly range: Range,
    readonly command?: unknown,
  ) {}
}

class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}
  static file(p: string): Uri {
    return new Uri('file', path.resolve(p));
  }
  toString(): string {
    return `${this.scheme}://${this.fsPath}`;
  }
}

/** Value holders whose constructors only keep their arguments. */
class Holder {
  constructor(...args: unknown[]) {
    Object.assign(this, { args });
  }
}

/** Settings: every key reads as its default. */
const configuration = {
  get: <T>(_key: string, fallback?: T) => fallback,
  inspect: () => undefined,
  update: () => Promise.resolve(),
};

const treeView = () => ({ visible: false, onDidChangeVisibility: noEvent, badge: undefined, dispose: () => undefined });
const statusBarItem = () => ({ show: () => undefined, hide: () => undefined, dispose: () => undefined });
const logChannel = () => ({ trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, show: () => undefined, dispose: () => undefined });

export const vscodeStub = {
  EventEmitter,
  Disposable: DisposableClass,
  Position,
  Range,
  CodeLens,
  Uri,
  TreeItem: Holder,
  ThemeIcon: Holder,
  ThemeColor: Holder,
  MarkdownString: Holder,
  Diagnostic: Holder,
  TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
  DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  ViewColumn: { Active: -1, Beside: -2 },
  window: {
    withProgress: (_options: unknown, task: (progress: unknown, token: unknown) => unknown) =>
      Promise.resolve(task({ report: () => undefined }, { isCancellationRequested: false, onCancellationRequested: noEvent })),
    showInformationMessage: () => Promise.resolve(undefined),
    showWarningMessage: () => Promise.resolve(undefined),
    showErrorMessage: () => Promise.resolve(undefined),
    createOutputChannel: logChannel,
    createTreeView: treeView,
    createStatusBarItem: statusBarItem,
    onDidChangeActiveTextEditor: noEvent,
    activeTextEditor: undefined,
  },
  workspace: {
    getConfiguration: () => configuration,
    getWorkspaceFolder: () => undefined,
    onDidChangeConfiguration: noEvent,
    onDidOpenTextDocument: noEvent,
    onDidChangeTextDocument: noEvent,
    onDidCloseTextDocument: noEvent,
    textDocuments: [],
  },
  languages: {
    registerCodeLensProvider: () => none,
    createDiagnosticCollection: () => ({ set: () => undefined, delete: () => undefined, clear: () => undefined, dispose: () => undefined }),
  },
  commands: {
    registerCommand: (id: string, handler: (...args: unknown[]) => unknown): Disposable => {
      registeredCommands.set(id, handler);
      return none;
    },
    executeCommand: () => Promise.resolve(undefined),
  },
};

/** Commands the extension registered, by id, so a harness can run one as the palette would. */
export const registeredCommands = new Map<string, (...args: unknown[]) => unknown>();

/** A stand-in for `vscode.ExtensionContext` with what activate() reads. */
export function stubContext(): { subscriptions: Disposable[]; secrets: unknown; logUri: Uri } {
  return {
    subscriptions: [],
    secrets: { get: () => Promise.resolve(undefined), store: () => Promise.resolve(), delete: () => Promise.resolve(), onDidChange: noEvent },
    logUri: Uri.file(path.join(process.cwd(), 'bench-log')),
  };
}

/** Makes `require('vscode')` return the stub in this process. */
export function installVscodeStub(): void {
  const loader = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const original = loader._load;
  loader._load = function (request: string, parent: unknown, isMain: boolean) {
    return request === 'vscode' ? vscodeStub : original.call(this, request, parent, isMain);
  };
}
