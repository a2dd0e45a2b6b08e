/**
 * The run panel's page: draws what the host posts (a run, live or past, or a comparison) with
 * VS Code's web components and codicons, and posts the user's actions back. Every text comes from
 * a run, a server or a file: it is set as text (`textContent`), never parsed as HTML.
 */
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import { type ContactSheetStatus, type ContactSheetTile } from '../../core/contactSheet';
import { type InputDiff, type OutputView, type RunComparison, type RunViewState } from '../../core/runView';
import { type HostMessage, type OutputMedia, type PanelSide, type PanelView, type SheetThumb, type WebviewMessage } from '../messages';

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const app = document.getElementById('app')!;

let current: PanelView | undefined;
let preview: HTMLImageElement | undefined;
/** What the gallery was built from: rebuilt only when the outputs change, not on every tick. */
let galleryKey = '';
let gallery: HTMLElement | undefined;

/** `el('div', { class: 'x' }, child, 'text')`: an element with attributes and children (strings become text nodes). */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, string>, ...children: (Node | string | undefined)[]): HTMLElementTagNameMap[K];
function el(tag: string, attrs?: Record<string, string>, ...children: (Node | string | undefined)[]): HTMLElement;
function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string | undefined)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c !== undefined) e.append(c);
  return e;
}

function button(label: string, icon: string, onClick: () => void, secondary = false): HTMLElement {
  const b = el('vscode-button', { icon, ...(secondary ? { secondary: '' } : {}) }, label);
  b.addEventListener('click', onClick);
  return b;
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return '–';
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}

function cost(dollars: number | undefined): string {
  if (dollars === undefined) return 'n/a';
  return dollars > 0 && dollars < 0.005 ? '<$0.01' : `~$${dollars.toFixed(2)}`;
}

const STATUS_ICON: Record<RunViewState['status'], string> = {
  preparing: 'loading',
  queued: 'clock',
  running: 'sync',
  success: 'pass',
  error: 'error',
  interrupted: 'debug-stop',
};

function statusLine(run: RunViewState): HTMLElement {
  const where = run.queuePosition !== undefined && run.queuePosition > 0 ? `${run.status} · position ${run.queuePosition} in the queue` : run.status;
  return el('span', { class: `status status-${run.status}` }, el('vscode-icon', { name: STATUS_ICON[run.status], ...(run.status === 'running' ? { spin: '' } : {}) }), ` ${where}`);
}

function facts(run: RunViewState): HTMLElement {
  const dl = el('dl', { class: 'facts' });
  const add = (k: string, v: string | undefined) => {
    if (v !== undefined) dl.append(el('dt', {}, k), el('dd', {}, v));
  };
  add('Target', run.target);
  add('Elapsed', duration(run.elapsedMs));
  add('Cost (estimate)', run.ratePerHour === undefined ? undefined : `${cost(run.costEstimate)} at $${run.ratePerHour.toFixed(2)}/h`);
  add('Prompt', run.promptId);
  add('Workflow', run.workflowFile);
  add('Converted', run.convertedFrom === 'ui' ? 'from the UI format at queue time' : undefined);
  add('Queued', run.timings.queued && new Date(run.timings.queued).toLocaleString());
  add('Finished', run.timings.finished && new Date(run.timings.finished).toLocaleString());
  const phases = Object.entries(run.timings.phases);
  if (phases.length > 0) add('Phases', phases.map(([k, v]) => `${k} ${duration(v)}`).join(' · '));
  return dl;
}

function nodeProgress(run: RunViewState): HTMLElement | undefined {
  if (!run.node && !run.progress) return undefined;
  const n = run.node;
  const name = n ? `${n.title ?? n.classType ?? `node ${n.id}`}${n.classType && n.title && n.title !== n.classType ? ` (${n.classType})` : ''}` : '';
  const step = run.progress ? `step ${run.progress.value} of ${run.progress.max}` : '';
  const bar = el('vscode-progress-bar', { 'aria-label': `${name} ${step}` });
  if (run.progress) {
    bar.setAttribute('value', String(run.progress.value));
    bar.setAttribute('max', String(run.progress.max));
  }
  return el('section', { class: 'node' }, el('div', { class: 'node-line' }, el('vscode-icon', { name: 'symbol-event' }), ` ${name}`, el('span', { class: 'step' }, step)), bar);
}

function caption(o: OutputView): HTMLElement {
  return el('figcaption', {}, el('span', { class: 'node-title' }, o.nodeTitle ?? `node ${o.node}`), el('span', { class: 'file-name', title: o.relativePath }, o.fileName));
}

/** "Animated" on a tile, whether it plays there or shows a first frame or an icon: a still-looking tile can be an animation. */
function animatedBadge(o: OutputView): HTMLElement | undefined {
  return o.kind === 'animated' ? el('vscode-badge', { class: 'animated-badge' }, 'Animated') : undefined;
}

function tile(o: OutputView, m: OutputMedia | undefined, index: number, side: PanelSide): HTMLElement {
  const open = () => vscode.postMessage({ type: 'openOutput', index, side });
  const reveal = () => vscode.postMessage({ type: 'revealOutput', index, side });
  let body: HTMLElement;
  if ((o.kind === 'image' || o.kind === 'animated') && m?.thumb) {
    const img = el('img', { src: m.thumb, alt: `${o.fileName}, ${o.nodeTitle ?? `node ${o.node}`}`, loading: 'lazy', decoding: 'async' });
    // A small animation is its own thumbnail and plays in the tile; a large one shows its first frame (see thumbnails.ts).
    const still = o.kind === 'animated' && m.thumb !== m.src;
    body = el('button', { class: 'thumb', title: still ? `First frame: open ${o.fileName} to play it` : `Open ${o.fileName} full size` }, img, animatedBadge(o));
    body.addEventListener('click', open);
  } else if (o.kind === 'video' && m) {
    body = el('video', { src: m.src, controls: '', preload: 'metadata', class: 'player' });
  } else if (o.kind === 'audio' && m) {
    body = el('audio', { src: m.src, controls: '', preload: 'none', class: 'player' });
  } else {
    body = el('button', { class: 'thumb icon-tile', title: `Open ${o.fileName}` }, el('vscode-icon', { name: o.kind === 'other' ? 'file' : 'file-media', size: '48' }), animatedBadge(o));
    body.addEventListener('click', open);
  }
  const actions = el('div', { class: 'tile-actions' }, button('Open', 'go-to-file', open, true), button('Reveal', 'folder-opened', reveal, true));
  return el('figure', { class: `tile kind-${o.kind}`, 'data-index': String(index) }, body, caption(o), actions);
}

function galleryOf(run: RunViewState, media: readonly OutputMedia[], side: PanelSide): HTMLElement {
  const grid = el('div', { class: 'gallery', role: 'list' });
  run.outputs.forEach((o, i) => grid.append(tile(o, media[i], i, side)));
  if (run.outputs.length === 0) grid.append(el('p', { class: 'muted' }, run.status === 'success' ? 'This run saved no files.' : 'No outputs were saved.'));
  return grid;
}

function diffTable(rows: readonly InputDiff[], before: string, after: string): HTMLElement {
  const table = el('table', { class: 'diff' }, el('thead', {}, el('tr', {}, el('th', {}, 'Node'), el('th', {}, 'Input'), el('th', {}, before), el('th', {}, after))));
  const body = el('tbody');
  for (const d of rows) {
    body.append(el('tr', {}, el('td', {}, d.nodeTitle ? `${d.nodeTitle} (#${d.node})` : `#${d.node}`), el('td', {}, d.input), el('td', { class: 'before' }, d.before ?? '(absent)'), el('td', { class: 'after' }, d.after ?? '(absent)')));
  }
  table.append(body);
  return table;
}

function details(run: RunViewState): HTMLElement {
  const box = el('section', { class: 'details' });
  if (run.error) box.append(el('p', { class: 'error', role: 'alert' }, el('vscode-icon', { name: 'error' }), ` ${run.error}`));
  if (run.overrides.length > 0) box.append(el('h2', {}, 'Inputs that differ from the workflow on disk'), diffTable(run.overrides, 'On disk', 'This run'));
  if (run.warnings.length > 0) box.append(el('h2', {}, 'Warnings'), el('ul', { class: 'warnings' }, ...run.warnings.map((w) => el('li', {}, w))));
  return box;
}

function renderRun(view: Extract<PanelView, { kind: 'run' }>): void {
  const run = view.run;
  const actions = el('div', { class: 'actions' });
  if (view.cancellable) actions.append(button('Cancel', 'debug-stop', () => vscode.postMessage({ type: 'cancel' })));
  if (run.runDir && run.status !== 'running' && run.status !== 'queued' && run.status !== 'preparing') actions.append(button('Compare with…', 'diff', () => vscode.postMessage({ type: 'compareWith' }), true));
  if (view.fromSheet) actions.append(button('Contact Sheet', 'arrow-left', () => vscode.postMessage({ type: 'openSheet' }), true));
  const header = el('header', {}, el('h1', {}, run.name), statusLine(run), actions);
  const live = view.cancellable;
  if (!preview || !live) preview = undefined;
  const key = `${run.runDir ?? ''}\n${run.outputs.map((o) => o.relativePath).join('\n')}\n${view.media.map((m) => m.thumb ?? '').join('\n')}`;
  if (key !== galleryKey || !gallery) {
    galleryKey = key;
    gallery = run.outputs.length > 0 || !live ? galleryOf(run, view.media, 'left') : undefined;
  }
  if (live) preview ??= el('img', { alt: 'Latest preview from the sampler' });
  const previewBox = preview ? el('section', { class: 'preview' }, preview) : undefined;
  if (previewBox && !preview?.getAttribute('src')) previewBox.append(el('p', { class: 'muted' }, 'Previews show here while a sampler runs.'));
  app.replaceChildren(header, facts(run), nodeProgress(run) ?? '', previewBox ?? '', gallery ?? '', details(run));
}

function slider(pair: RunComparison['imagePairs'][number], c: RunComparison, left: readonly OutputMedia[], right: readonly OutputMedia[]): HTMLElement | undefined {
  const a = left[pair.left];
  const b = right[pair.right];
  if (!a || !b) return undefined;
  const o = c.left.outputs[pair.left];
  const top = el('img', { src: b.src, alt: `${c.right.name}: ${c.right.outputs[pair.right]?.fileName ?? ''}`, class: 'top' });
  const range = el('input', { type: 'range', min: '0', max: '100', value: '50', 'aria-label': `Slide between the two images of ${o.nodeTitle ?? `node ${o.node}`}` });
  const apply = () => top.style.setProperty('clip-path', `inset(0 0 0 ${range.value}%)`);
  range.addEventListener('input', apply);
  apply();
  return el('figure', { class: 'slider' }, el('div', { class: 'stack' }, el('img', { src: a.src, alt: `${c.left.name}: ${o.fileName}` }), top), range, el('figcaption', {}, `${o.nodeTitle ?? `node ${o.node}`}: left ${o.fileName}, right ${c.right.outputs[pair.right]?.fileName ?? ''}`));
}

function renderCompare(view: Extract<PanelView, { kind: 'compare' }>): void {
  const c = view.comparison;
  preview = undefined;
  galleryKey = '';
  gallery = undefined;
  const column = (run: RunViewState, media: readonly OutputMedia[], side: PanelSide) =>
    el('section', { class: 'column' }, el('h2', {}, run.runDir?.split(/[\\/]/).pop() ?? run.name), statusLine(run), facts(run), galleryOf(run, media, side));
  const sliders = c.imagePairs.map((p) => slider(p, c, view.leftMedia, view.rightMedia)).filter((s): s is HTMLElement => s !== undefined);
  app.replaceChildren(
    el('header', {}, el('h1', {}, `Compare: ${c.left.name}`)),
    el('section', { class: 'inputs' }, el('h2', {}, c.inputs.length === 0 ? 'The two prompts have the same inputs.' : 'Inputs that differ'), c.inputs.length > 0 ? diffTable(c.inputs, 'Left', 'Right') : ''),
    sliders.length > 0 ? el('section', { class: 'sliders' }, el('h2', {}, 'Same output, both runs'), ...sliders) : '',
    el('div', { class: 'columns' }, column(c.left, view.leftMedia, 'left'), column(c.right, view.rightMedia, 'right')),
  );
}

/** Why the panel shows no run: a restored state it refused, said in the panel instead of a blank page. */
function renderNotice(view: Extract<PanelView, { kind: 'notice' }>): void {
  preview = undefined;
  galleryKey = '';
  gallery = undefined;
  app.replaceChildren(el('header', {}, el('h1', {}, view.title)), el('p', { class: 'notice', role: 'alert' }, el('vscode-icon', { name: 'info' }), ` ${view.message}`));
}

function report(): void {
  if (!current) return;
  if (current.kind === 'sheet') {
    vscode.postMessage({
      type: 'sheetRendered',
      sweep: current.sheet.name,
      status: current.sheet.status,
      tiles: app.querySelectorAll('figure.sheet-tile').length,
      images: app.querySelectorAll('figure.sheet-tile img').length,
      labels: [...app.querySelectorAll('figure.sheet-tile .sheet-label')].map((e) => e.textContent ?? ''),
    });
    return;
  }
  const run = current.kind === 'run' ? current.run : current.kind === 'compare' ? current.comparison.left : undefined;
  vscode.postMessage({
    type: 'rendered',
    view: current.kind,
    status: run?.status ?? (app.querySelector('p.notice')?.textContent?.trim() ?? ''),
    outputs: app.querySelectorAll('figure.tile').length,
    animated: app.querySelectorAll('figure.kind-animated .animated-badge').length,
    preview: Boolean(preview?.getAttribute('src')) && preview?.isConnected === true,
    progress: app.querySelector('.node-line')?.textContent ?? undefined,
  });
}

const SHEET_STATUS_ICON: Record<ContactSheetStatus, string> = { ...STATUS_ICON, pending: 'circle-outline', skipped: 'circle-slash' };
/** The contact sheet's tiles by position, kept between states: a live sheet is posted again as runs end, and only changed tiles are rebuilt (loaded images stay). */
let sheetTiles = new Map<number, { readonly key: string; readonly element: HTMLElement }>();
let sheetDir = '';

function sheetTile(t: ContactSheetTile, pic: SheetThumb | undefined, position: number): HTMLElement {
  const waiting = pic?.loading === true;
  const picture = pic?.thumb
    ? el('img', { src: pic.thumb, alt: t.label, loading: 'lazy', decoding: 'async' })
    : el(
        'span',
        { class: 'sheet-state' },
        el('vscode-icon', { name: waiting ? 'loading' : SHEET_STATUS_ICON[t.status], size: '32', ...(waiting || t.status === 'running' ? { spin: '' } : {}) }),
        waiting ? 'loading' : t.status === 'success' ? 'no image' : t.status,
      );
  let body: HTMLElement;
  if (t.runDir) {
    body = el('button', { class: 'thumb', title: `Open run ${t.index + 1}: ${t.label}` }, picture);
    body.addEventListener('click', () => vscode.postMessage({ type: 'openSheetRun', index: position }));
  } else {
    body = el('div', { class: 'thumb', title: `Run ${t.index + 1}: ${t.status}` }, picture);
  }
  const caption = el('figcaption', {}, el('span', { class: 'sheet-label', title: t.label }, t.label), t.error ? el('span', { class: 'error sheet-message', title: t.error }, t.error) : undefined);
  return el('figure', { class: `tile sheet-tile sheet-${t.status}`, 'data-index': String(t.index) }, body, caption);
}

function renderSheet(view: Extract<PanelView, { kind: 'sheet' }>): void {
  const sheet = view.sheet;
  preview = undefined;
  galleryKey = '';
  gallery = undefined;
  if (sheet.sweepDir !== sheetDir) {
    sheetDir = sheet.sweepDir;
    sheetTiles = new Map();
  }
  const kept = new Map<number, { key: string; element: HTMLElement }>();
  const tileAt = (position: number): HTMLElement => {
    const t = sheet.tiles[position];
    const key = JSON.stringify([t, view.thumbs[position]]);
    const old = sheetTiles.get(position);
    const element = old?.key === key ? old.element : sheetTile(t, view.thumbs[position], position);
    kept.set(position, { key, element });
    return element;
  };
  const order: ContactSheetStatus[] = ['success', 'running', 'queued', 'pending', 'error', 'interrupted', 'skipped'];
  const counts = order.filter((s) => sheet.counts[s]).map((s) => `${sheet.counts[s]} ${s === 'success' ? 'done' : s === 'error' ? 'failed' : s}`);
  const header = el('header', {}, el('h1', {}, `Sweep: ${sheet.name}`), el('span', { class: 'status' }, `${sheet.status} · ${sheet.tiles.length} runs${counts.length > 0 ? `: ${counts.join(', ')}` : ''}`));
  const axes = el('dl', { class: 'facts sheet-axes' });
  if (sheet.workflow) axes.append(el('dt', {}, 'Workflow'), el('dd', {}, sheet.workflow));
  for (const a of sheet.axes) axes.append(el('dt', {}, a.key), el('dd', {}, a.values.join(', ')));
  let body: HTMLElement;
  if (sheet.grid) {
    const [rows, columns] = sheet.axes;
    const table = el('table', { class: 'sheet-grid' });
    table.append(el('thead', {}, el('tr', {}, el('th', { scope: 'col', class: 'corner' }, `${rows.key} ↓ · ${columns.key} →`), ...columns.values.map((v) => el('th', { scope: 'col' }, v)))));
    const tbody = el('tbody');
    sheet.grid.forEach((cells, r) => {
      tbody.append(el('tr', {}, el('th', { scope: 'row' }, rows.values[r]), ...cells.map((p) => el('td', {}, p === null ? el('span', { class: 'muted' }, 'no run') : tileAt(p)))));
    });
    table.append(tbody);
    body = el('div', { class: 'sheet-scroll' }, table);
  } else {
    body = el('div', { class: 'gallery sheet', role: 'list' });
    sheet.tiles.forEach((_, p) => body.append(tileAt(p)));
  }
  sheetTiles = kept;
  const warnings = sheet.warnings.length > 0 ? el('ul', { class: 'warnings' }, ...sheet.warnings.map((w) => el('li', {}, w))) : '';
  app.replaceChildren(header, axes, body, warnings);
}

window.addEventListener('message', (e: MessageEvent<HostMessage>) => {
  const m = e.data;
  if (m.type === 'state') {
    current = m.view;
    vscode.setState(m.persist);
    if (m.view.kind === 'run') renderRun(m.view);
    else if (m.view.kind === 'sheet') renderSheet(m.view);
    else if (m.view.kind === 'compare') renderCompare(m.view);
    else renderNotice(m.view);
    report();
  } else if (m.type === 'preview' && preview) {
    const first = !preview.getAttribute('src');
    preview.src = m.dataUrl;
    if (first) {
      preview.parentElement?.querySelector('p.muted')?.remove();
      report();
    }
  }
});

vscode.postMessage({ type: 'ready' });
