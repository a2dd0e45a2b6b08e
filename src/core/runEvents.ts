import { type NodeOutput } from '../api/comfyTypes';
import { type ErrorKind } from '../api/errors';
import { type OutputsSource } from './outputSaver';

/** A node as the user knows it: id, class and the title the editor gave it. */
export interface NodeRef {
  readonly id: string;
  /** Undefined for nodes not in our prompt (expanded subgraph nodes use their display node's class). */
  readonly classType?: string;
  /** `_meta.title`, when the workflow carries one. */
  readonly title?: string;
}

/** One file a run saved locally. */
export interface SavedOutput {
  /** The output node id. */
  readonly node: string;
  /** The key the file was listed under (`images`, `gifs`, `audio`, `video`, `3d`, …). */
  readonly key: string;
  /** The server's values, verbatim. */
  readonly filename: string;
  readonly subfolder: string;
  readonly type: string;
  /** Absolute path of the local file. */
  readonly path: string;
  readonly bytes: number;
  /** The server marked it animated (`ui.animated`, for `images`): an APNG or animated WebP. */
  readonly animated?: boolean;
  /**
   * Where the file was listed: the server's history, or an `executed` message heard live (history
   * unreadable, or, in an `outputSaved` event, a file saved while the run went on, before history was read).
   */
  readonly source: OutputsSource;
}

/** Why a run did not succeed, in a shape that serialises (the CLI's `--json` `error`). */
export interface RunFailure {
  /** The error kind, which decides the CLI exit code; `internal` for a local failure that is no API error (a full disk). */
  readonly kind: ErrorKind | 'internal';
  /** The server's `error.type` / `exception_type`, or a short code of ours (`download_failed`, `prompt_lost`). */
  readonly type: string;
  /** One line (or a few) saying what went wrong and what to do. */
  readonly message: string;
  readonly details: string;
  /** `node_errors` as the server sent it, for a rejected prompt; null otherwise. */
  readonly nodeErrors: unknown;
  /** The failing node, for an execution error. */
  readonly node?: NodeRef;
  readonly traceback?: readonly string[];
}

/** How a run ended. */
export type RunStatus = 'success' | 'error' | 'interrupted';

/** The outcome of a run. Outputs that were saved are listed even when the run failed afterwards. */
export interface RunResult {
  /** Null when the prompt never reached the queue (rejected locally or by the server, or an upload failed). */
  readonly promptId: string | null;
  readonly status: RunStatus;
  readonly outputs: readonly SavedOutput[];
  readonly warnings: readonly string[];
  readonly error: RunFailure | null;
  /** The run's local folder; undefined when nothing was saved and none was created. */
  readonly runDir?: string;
  readonly elapsedMs: number;
}

/**
 * What a run reports while it goes, in order. The editor's log and progress UI and the CLI
 * subscribe to these; nothing else about a run is observable.
 */
export type RunEvent =
  /** A local file is being sent for a node input (not said for a file the server has already). */
  | { readonly type: 'uploading'; readonly node: NodeRef; readonly input: string; readonly localPath: string }
  /**
   * On the server; the prompt now uses `reference`. `alreadyOnServer`: nothing was sent, the server
   * had that content already (or another input of this run, or another run at once, sent it).
   */
  | { readonly type: 'uploaded'; readonly node: NodeRef; readonly input: string; readonly localPath: string; readonly reference: string; readonly alreadyOnServer: boolean; readonly bytes: number }
  /** The server accepted the prompt. `position`: 0 = running, n = n-th in line. Sent again when the watchdog sees the position change. */
  | { readonly type: 'queued'; readonly promptId: string; readonly number: number; readonly position: number }
  | { readonly type: 'started' }
  /** Nodes the server will reuse from its cache instead of running. */
  | { readonly type: 'cached'; readonly nodes: readonly NodeRef[] }
  | { readonly type: 'executing'; readonly node: NodeRef }
  /** Step progress of a node (sampler steps, …). */
  | { readonly type: 'progress'; readonly node: NodeRef | undefined; readonly value: number; readonly max: number }
  /** A preview image; only the latest is worth keeping. `image` is a view into the received frame. */
  | { readonly type: 'preview'; readonly node: NodeRef | undefined; readonly mime: string; readonly image: Buffer }
  /** Text a node of our prompt displayed (binary type 3). */
  | { readonly type: 'text'; readonly node: NodeRef; readonly text: string }
  /** A node finished with UI output (files listed here are downloaded at once, a few at a time, while the run goes on). */
  | { readonly type: 'executed'; readonly node: NodeRef; readonly output: NodeOutput }
  | { readonly type: 'succeeded' }
  | {
      readonly type: 'failed';
      readonly node: NodeRef | undefined;
      readonly exceptionType: string;
      readonly message: string;
      readonly traceback: readonly string[];
    }
  | { readonly type: 'interrupted'; readonly node: NodeRef | undefined }
  /** The websocket dropped (`lost`) or came back (`restored`, after which the run reconciles with /queue and /history). */
  | { readonly type: 'connection'; readonly state: 'lost' | 'restored'; readonly reason?: string }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'outputSaved'; readonly output: SavedOutput }
  /** Always the last event. */
  | { readonly type: 'finished'; readonly result: RunResult };

/** The event types, for exhaustive handling. */
export type RunEventType = RunEvent['type'];
