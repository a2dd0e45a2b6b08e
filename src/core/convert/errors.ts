import { printableText } from '../../base/untrustedText';

/** A node whose class the target's `/object_info` does not list. */
export interface MissingNode {
  /** The id the node has in its graph (inside a subgraph definition: its id there). */
  readonly nodeId: string;
  readonly classType: string;
  readonly title?: string;
  /** Where the node sits in the file, as a JSON path: `nodes[3]`, `definitions.subgraphs[0].nodes[2]`. */
  readonly path: string;
}

/** Why a UI-format workflow could not be converted. */
export type UiConversionErrorKind =
  /** Classes `/object_info` does not know: custom nodes to install. See {@link UiConversionError.missing}. */
  | 'missingClasses'
  /** The file is not a UI-format workflow, or its structure is broken (bad links, cycles, too large). */
  | 'invalidWorkflow';

/**
 * The one error conversion throws. `missingClasses` lists every unknown class with each node using
 * it; `invalidWorkflow` says what is wrong and where in {@link message}.
 */
export class UiConversionError extends Error {
  override readonly name = 'UiConversionError';

  constructor(
    readonly kind: UiConversionErrorKind,
    message: string,
    /** For `missingClasses`: every node whose class is unknown, in file order. */
    readonly missing: readonly MissingNode[] = [],
  ) {
    super(message);
  }

  /** The distinct unknown class names, in first-seen order. */
  get missingClasses(): string[] {
    return [...new Set(this.missing.map((m) => m.classType))];
  }
}

/** The message for a set of missing classes: each class with the nodes that use it, then what to do. */
export function missingClassesMessage(missing: readonly MissingNode[], where: string): string {
  const byClass = new Map<string, MissingNode[]>();
  for (const m of missing) byClass.set(m.classType, [...(byClass.get(m.classType) ?? []), m]);
  const lines = [...byClass].map(([cls, nodes]) => {
    const at = nodes.map((n) => `node ${shown(n.nodeId)}${n.title && n.title !== cls ? ` "${shown(n.title)}"` : ''} at ${shown(n.path)}`).join(', ');
    return `  ${shown(cls)}: ${at}`;
  });
  const count = byClass.size;
  return `${count} node class${count === 1 ? '' : 'es'} unknown to ${where}:\n${lines.join('\n')}\nInstall the custom nodes that provide ${count === 1 ? 'it' : 'them'} on the server (or remove those nodes), then convert again.`;
}

/** Untrusted text from the file, made safe and short enough for one line of a message. */
export function shown(text: string): string {
  const t = printableText(text);
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}
