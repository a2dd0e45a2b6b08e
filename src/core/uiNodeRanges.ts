import { jsonc } from '../api/lazy';
import { isObject } from '../base/json';
import { type TextRange } from './workflowAnalysis';

/**
 * Where a node of a UI-format workflow is written, for diagnostics: the value of its `"type"` (the
 * class), or the node object itself when it has none. `jsonPath` is the converter's path of the node
 * (`nodes[3]`, `definitions.subgraphs[0].nodes[2]`). Undefined when the text has nothing there.
 * jsonc-parser is loaded here only: this runs for files that could not be converted, have warnings, or
 * name local files to upload.
 */
export function uiNodeRange(text: string, jsonPath: string): TextRange | undefined {
  const segments: (string | number)[] = [];
  for (const m of jsonPath.matchAll(/\[(\d+)\]|([^.[\]]+)/g)) segments.push(m[1] !== undefined ? Number(m[1]) : m[2]);
  const j = jsonc();
  const tree = j.parseTree(text);
  if (!tree) return undefined;
  const found = j.findNodeAtLocation(tree, [...segments, 'type']) ?? j.findNodeAtLocation(tree, segments);
  return found ? rangeOf(text, found.offset, found.length) : undefined;
}

/**
 * The JSON path of the top-level node a prompt node id comes from: `"12"` → `nodes[i]` of node 12,
 * `"12:5"` (inside a subgraph or group node 12) → node 12 as well. Undefined when no such node.
 */
export function uiNodePathOf(document: unknown, promptNodeId: string): string | undefined {
  const nodes = isObject(document) && Array.isArray(document.nodes) ? (document.nodes as unknown[]) : [];
  const outer = promptNodeId.split(':')[0];
  const index = nodes.findIndex((n) => isObject(n) && (typeof n.id === 'number' || typeof n.id === 'string') && String(n.id) === outer);
  return index < 0 ? undefined : `nodes[${index}]`;
}

function rangeOf(text: string, offset: number, length: number): TextRange {
  const at = (o: number) => {
    let line = 1;
    let lineStart = 0;
    for (let k = text.indexOf('\n'); k !== -1 && k < o; k = text.indexOf('\n', k + 1)) {
      line++;
      lineStart = k + 1;
    }
    return { line, column: o - lineStart + 1 };
  };
  const start = at(offset);
  const end = at(offset + length);
  return { offset, length, line: start.line, column: start.column, endLine: end.line, endColumn: end.column };
}
