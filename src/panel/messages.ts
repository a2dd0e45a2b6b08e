/**
 * The messages between the run panel's host (extension) and its webview, both ways. No `vscode`
 * import and no DOM: the host and the browser bundle both compile this file.
 */
import { type ContactSheetView } from '../core/contactSheet';
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
  /** `fromSheet`: the sweep folder's name when the run was opened from its contact sheet (the panel offers the way back). */
  | { readonly kind: 'run'; readonly run: RunViewState; readonly media: readonly OutputMedia[]; readonly cancellable: boolean; readonly fromSheet?: string }
  | { readonly kind: 'compare'; readonly comparison: RunComparison; readonly leftMedia: readonly OutputMedia[]; readonly rightMedia: readonly OutputMedia[] }
  /** A sweep's contact sheet; `thumbs` is index-aligned with its tiles. */
  | { readonly kind: 'sheet'; readonly sheet: ContactSheetView; readonly thumbs: readonly SheetThumb[] }
  | { readonly kind: 'notice'; readonly title: string; readonly message: string };

/** A contact-sheet tile's picture: a webview URI of its thumbnail, or `loading` while the host makes it, or neither (no image). */
export interface SheetThumb {
  readonly thumb?: string;
  readonly loading?: boolean;
}

/** What the webview keeps with `setState`, which the serializer gets back after a reload: run folders only, never state. */
export interface PanelPersistedState {
  readonly runDir?: string;
  readonly compareWith?: string;
  /** The sweep folder of a contact sheet. */
  readonly sweepDir?: string;
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
  | { readonly type: 'rendered'; readonly view: 'run' | 'compare' | 'notice'; readonly status: string; readonly outputs: number; readonly preview: boolean; readonly progress?: string; readonly animated?: number }
  | { readonly type: 'cancel' }
  | { readonly type: 'openOutput'; readonly index: number; readonly side: PanelSide }
  | { readonly type: 'revealOutput'; readonly index: number; readonly side: PanelSide }
  | { readonly type: 'compareWith' }
  /** What the webview drew of a contact sheet: tiles, how many show a picture, their labels (tests). */
  | { readonly type: 'sheetRendered'; readonly sweep: string; readonly status: string; readonly tiles: number; readonly images: number; readonly labels: readonly string[] }
  /** A tile of the contact sheet was chosen: its position in the sheet's tiles. */
  | { readonly type: 'openSheetRun'; readonly index: number }
  /** Back from a run opened from the contact sheet. */
  | { readonly type: 'openSheet' };

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
        ? { type: 'rendered', view: m.view, status: m.status.slice(0, 200), outputs: m.outputs, preview: m.preview === true, progress: typeof m.progress === 'string' ? m.progress.slice(0, 200) : undefined, animated: typeof m.animated === 'number' ? m.animated : undefined }
        : undefined;
    case 'openSheet':
      return { type: m.type };
    case 'openSheetRun':
      return typeof m.index === 'number' && Number.isInteger(m.index) && m.index >= 0 ? { type: m.type, index: m.index } : undefined;
    case 'sheetRendered':
      return typeof m.status === 'string' && typeof m.tiles === 'number' && typeof m.images === 'number' && Array.isArray(m.labels)
        ? { type: m.type, sweep: typeof m.sweep === 'string' ? m.sweep.slice(0, 500) : '', status: m.status.slice(0, 200), tiles: m.tiles, images: m.images, labels: (m.labels as unknown[]).slice(0, 10_000).map((l) => String(l).slice(0, 500)) }
        : undefined;
    default:
      return undefined;
  }
}
