/**
 * The messages between the run panel's host (extension) and its webview, both ways. No `vscode`
 * import and no DOM: the host and the browser bundle both compile this file.
 */
import { type RunComparison, type RunViewState } from '../core/runView';

/** The webview panel type: the serializer and the `onWebviewPanel:` activation event name it. */
export const RUN_PANEL_VIEW_TYPE = 'runcomfy.run';

/** Where each output of a state is shown from: a webview URI for the file, and a smaller one for its tile. Index-aligned with `outputs`. */
export interface OutputMedia {
  readonly src: string;
  /** A thumbnail (generated or chosen), for images; absent when the tile shows no picture. */
  readonly thumb?: string;
}

/** What the panel shows: one run (live or past), two runs compared, or why it shows neither (a restore refused). */
export type PanelView =
  | { readonly kind: 'run'; readonly run: RunViewState; readonly media: readonly OutputMedia[]; readonly cancellable: boolean }
  | { readonly kind: 'compare'; readonly comparison: RunComparison; readonly leftMedia: readonly OutputMedia[]; readonly rightMedia: readonly OutputMedia[] }
  | { readonly kind: 'notice'; readonly title: string; readonly message: string };

/** What the webview keeps with `setState`, which the serializer gets back after a reload: run folders only, never state. */
export interface PanelPersistedState {
  readonly runDir?: string;
  readonly compareWith?: string;
}

/** Host → webview. */
export type HostMessage =
  | { readonly type: 'state'; readonly view: PanelView; readonly persist: PanelPersistedState }
  /** The latest latent preview as a `data:` URL (the CSP allows `img-src data:`). */
  | { readonly type: 'preview'; readonly dataUrl: string };

/** Which side of a comparison an output is on; `left` for a single run. */
export type PanelSide = 'left' | 'right';

/** Webview → host. Untrusted shape: checked by {@link parseWebviewMessage}. */
export type WebviewMessage =
  | { readonly type: 'ready' }
  /** What the webview drew, after each state: tests check it rendered, not only that it was sent. */
  | { readonly type: 'rendered'; readonly view: PanelView['kind']; readonly status: string; readonly outputs: number; readonly preview: boolean; readonly progress?: string }
  | { readonly type: 'cancel' }
  | { readonly type: 'openOutput'; readonly index: number; readonly side: PanelSide }
  | { readonly type: 'revealOutput'; readonly index: number; readonly side: PanelSide }
  | { readonly type: 'compareWith' };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A message from the webview, checked; undefined for anything else (a webview is a browser page: treat what it posts as input). */
export function parseWebviewMessage(m: unknown): WebviewMessage | undefined {
  if (!isRecord(m) || typeof m.type !== 'string') return undefined;
  const side: PanelSide = m.side === 'right' ? 'right' : 'left';
  switch (m.type) {
    case 'ready':
    case 'cancel':
    case 'compareWith':
      return { type: m.type };
    case 'openOutput':
    case 'revealOutput':
      return typeof m.index === 'number' && Number.isInteger(m.index) && m.index >= 0 ? { type: m.type, index: m.index, side } : undefined;
    case 'rendered':
      return (m.view === 'run' || m.view === 'compare' || m.view === 'notice') && typeof m.status === 'string' && typeof m.outputs === 'number'
        ? { type: 'rendered', view: m.view, status: m.status.slice(0, 200), outputs: m.outputs, preview: m.preview === true, progress: typeof m.progress === 'string' ? m.progress.slice(0, 200) : undefined }
        : undefined;
    default:
      return undefined;
  }
}
