/**
 * The `%…%` search-and-replace the frontend runs on a save node's `filename_prefix` when it builds a
 * prompt: `%date:FORMAT%` and `%<node>.<widget>%`, where `<node>` is a node's "Node name for S&R"
 * property (its class by default) or else its title.
 */

/** The node facts a replacement looks up, in the frontend's search order (graph order). */
export interface ReplacementNode {
  /** `properties["Node name for S&R"]`, or undefined when the node has none. */
  readonly searchName: string | undefined;
  readonly title: string;
  /** The node's widget value by widget name, or undefined when the node has no such widget. */
  widgetValue(name: string): { value: unknown } | undefined;
}

/** The class names whose `filename_prefix` the frontend rewrites (`Comfy.SaveImageExtraOutput`). */
export const saveNodeClasses: ReadonlySet<string> = new Set([
  'SaveImage',
  'SaveImageAdvanced',
  'SaveSVGNode',
  'SaveVideo',
  'SaveAnimatedWEBP',
  'SaveWEBM',
  'SaveAudio',
  'SaveAudioMP3',
  'SaveAudioOpus',
  'SaveAudioAdvanced',
  'SaveGLB',
  'SaveAnimatedPNG',
  'CLIPSave',
  'VAESave',
  'ModelSave',
  'LoraSave',
  'SaveLatent',
]);

const dateParts: Record<string, (d: Date) => number> = {
  d: (d) => d.getDate(),
  M: (d) => d.getMonth() + 1,
  h: (d) => d.getHours(),
  m: (d) => d.getMinutes(),
  s: (d) => d.getSeconds(),
};

/** The frontend's `formatDate`: `yyyy`, `yy`, `MM`, `dd`, `hh`, `mm`, `ss` (and one-letter forms), in local time. */
export function formatDate(format: string, date: Date): string {
  return format.replace(/dd?|MM?|hh?|mm?|ss?|yyy?y?/g, (token) => {
    if (token === 'yy') return String(date.getFullYear()).substring(2);
    if (token === 'yyyy') return String(date.getFullYear());
    const part = dateParts[token[0]];
    return part ? String(part(date)).padStart(token.length, '0') : token;
  });
}

/** `value` with every `%date:…%` and `%Node.widget%` the frontend would replace replaced. */
export function applyTextReplacements(value: string, nodes: readonly ReplacementNode[], now: Date): string {
  return value.replace(/%([^%]+)%/g, (match, text: string) => {
    const split = text.split('.');
    if (split.length !== 2) return split[0].startsWith('date:') ? formatDate(split[0].substring(5), now) : match;
    let found = nodes.filter((n) => n.searchName === split[0]);
    if (!found.length) found = nodes.filter((n) => n.title === split[0]);
    const widget = found[0]?.widgetValue(split[1]);
    if (!widget) return match;
    const { value: v } = widget;
    const shownValue = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : v == null ? '' : JSON.stringify(v);
    // Characters a file name cannot hold become `_`, as in the frontend.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    return shownValue.replace(/[/?<>\\:*|"\x00-\x1F\x7F]/g, '_');
  });
}
