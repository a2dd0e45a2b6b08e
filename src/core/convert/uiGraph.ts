import { isObject } from '../../base/json';
import { UiConversionError, shown } from './errors';

/**
 * The UI format (what ComfyUI's Save writes), read defensively into plain records. Everything in the
 * file is untrusted: ids become strings, unknown shapes are skipped or refused with the path where
 * they sit, and every lookup table is a Map (a node id `__proto__` is just a key).
 */

/** One input slot of a node. */
export interface UiSlot {
  readonly name: string;
  readonly type: string;
  /** The link id feeding it, as a string, or undefined when nothing is connected. */
  readonly link: string | undefined;
  /** Set when the slot stands for a widget (a widget converted to an input). */
  readonly widgetName: string | undefined;
}

/** One node as saved. */
export interface UiNode {
  readonly id: string;
  readonly type: string;
  /** 0 always, 2 never (muted), 4 bypass. */
  readonly mode: number;
  readonly savedTitle: string | undefined;
  readonly inputs: readonly UiSlot[];
  /** Output types by slot, and the link ids leaving each output. */
  readonly outputs: readonly { readonly type: string; readonly links: readonly string[] }[];
  /** `widgets_values` when it is a list (an object form is not applied by the frontend either). */
  readonly widgetsValues: readonly unknown[] | undefined;
  readonly properties: ReadonlyMap<string, unknown>;
  /** Where the node sits in the file (a JSON path). */
  readonly path: string;
  /** The execution order the frontend last computed (`order`), when saved. */
  readonly executionOrder: number | undefined;
}

/** One link: output `originSlot` of `originId` feeds input `targetSlot` of `targetId`. */
export interface UiLink {
  readonly id: string;
  readonly originId: string;
  readonly originSlot: number;
  readonly targetId: string;
  readonly targetSlot: number;
  readonly type: string;
}

/** A graph: the root one or a subgraph definition's. */
export interface UiGraph {
  /** A unique key: `root` or the subgraph definition id. */
  readonly key: string;
  readonly nodes: ReadonlyMap<string, UiNode>;
  /** The nodes in file order. */
  readonly order: readonly UiNode[];
  readonly links: ReadonlyMap<string, UiLink>;
}

/** One input or output of a subgraph definition. */
export interface UiSubgraphPort {
  readonly name: string;
  readonly type: string;
  readonly linkIds: readonly string[];
}

/** A subgraph definition (`definitions.subgraphs[i]`); nodes whose `type` is its id are its instances. */
export interface UiSubgraph {
  readonly id: string;
  readonly graph: UiGraph;
  readonly inputs: readonly UiSubgraphPort[];
  readonly outputs: readonly UiSubgraphPort[];
  readonly path: string;
}

/** The whole file. */
export interface UiWorkflow {
  readonly root: UiGraph;
  readonly subgraphs: ReadonlyMap<string, UiSubgraph>;
  /** Legacy group node definitions (`extra.groupNodes`), by name. */
  readonly groupNodes: ReadonlyMap<string, UiGroupNodeDef>;
}

/** A legacy group node definition: its inner nodes and links (slots by index in the definition). */
export interface UiGroupNodeDef {
  readonly name: string;
  readonly nodes: readonly UiNode[];
  /** `[origin index, origin slot, target index, target slot, origin id, type]` as saved. */
  readonly links: readonly (readonly unknown[])[];
  /** `[origin index, origin slot, type]`: inner outputs that leave the group, in the group node's output order. */
  readonly external: readonly (readonly unknown[])[];
  readonly path: string;
}

/** The subgraph input and output nodes' ids inside a definition. */
export const subgraphInputNodeId = '-10';
export const subgraphOutputNodeId = '-20';

/** Limits that keep a hostile file from exhausting memory or time. */
export const uiLimits = {
  /** Nodes in one graph. */
  nodesPerGraph: 20_000,
  /** Links in one graph. */
  linksPerGraph: 100_000,
  /** Subgraph definitions and group node definitions. */
  definitions: 2_000,
} as const;

/** True when `value` looks like a UI-format workflow (has a `nodes` list). */
export function isUiWorkflow(value: unknown): value is Record<string, unknown> {
  return isObject(value) && Array.isArray(value.nodes);
}

/** Reads the file's structure; throws {@link UiConversionError} `invalidWorkflow` when it is not one. */
export function readUiWorkflow(value: unknown): UiWorkflow {
  if (!isUiWorkflow(value)) {
    throw new UiConversionError(
      'invalidWorkflow',
      'This is not a UI-format ComfyUI workflow: it has no "nodes" list. Open a workflow saved from ComfyUI (or one exported in API format).',
    );
  }
  const root = readGraph('root', value.nodes, value.links, '');
  const subgraphs = new Map<string, UiSubgraph>();
  const definitions = isObject(value.definitions) ? value.definitions.subgraphs : undefined;
  if (Array.isArray(definitions)) {
    checkCount(definitions.length, uiLimits.definitions, 'subgraph definitions', 'definitions.subgraphs');
    definitions.forEach((def: unknown, i) => {
      const path = `definitions.subgraphs[${i}]`;
      if (!isObject(def) || (typeof def.id !== 'string' && typeof def.id !== 'number')) return;
      const id = String(def.id);
      if (subgraphs.has(id)) return;
      subgraphs.set(id, {
        id,
        graph: readGraph(id, def.nodes, def.links, `${path}.`),
        inputs: readPorts(def.inputs),
        outputs: readPorts(def.outputs),
        path,
      });
    });
  }
  const groupNodes = new Map<string, UiGroupNodeDef>();
  const groups = isObject(value.extra) ? value.extra.groupNodes : undefined;
  if (isObject(groups)) {
    const names = Object.keys(groups);
    checkCount(names.length, uiLimits.definitions, 'group node definitions', 'extra.groupNodes');
    for (const name of names) {
      const def = groups[name];
      if (!isObject(def)) continue;
      const path = `extra.groupNodes[${JSON.stringify(name)}]`;
      const nodes = Array.isArray(def.nodes) ? def.nodes : [];
      checkCount(nodes.length, uiLimits.nodesPerGraph, 'nodes', `${path}.nodes`);
      groupNodes.set(name, {
        name,
        nodes: nodes.flatMap((n: unknown, i) => {
          const node = readNode(n, `${path}.nodes[${i}]`, String(i));
          return node ? [node] : [];
        }),
        links: (Array.isArray(def.links) ? def.links : []).filter((l): l is unknown[] => Array.isArray(l)),
        external: (Array.isArray(def.external) ? def.external : []).filter((l): l is unknown[] => Array.isArray(l)),
        path,
      });
    }
  }
  return { root, subgraphs, groupNodes };
}

function checkCount(count: number, limit: number, what: string, path: string): void {
  if (count > limit) {
    throw new UiConversionError('invalidWorkflow', `The workflow has ${count} ${what} at ${path}; more than ${limit} is not supported.`);
  }
}

function readGraph(key: string, nodesValue: unknown, linksValue: unknown, prefix: string): UiGraph {
  const list = Array.isArray(nodesValue) ? nodesValue : [];
  checkCount(list.length, uiLimits.nodesPerGraph, 'nodes', `${prefix}nodes`);
  const nodes = new Map<string, UiNode>();
  const order: UiNode[] = [];
  list.forEach((n: unknown, i) => {
    const node = readNode(n, `${prefix}nodes[${i}]`);
    // A repeated id: the frontend keeps the first and renumbers the rest, which nothing links to.
    if (!node || nodes.has(node.id)) return;
    nodes.set(node.id, node);
    order.push(node);
  });
  const links = new Map<string, UiLink>();
  const linkList = Array.isArray(linksValue) ? linksValue : isObject(linksValue) ? Object.values(linksValue) : [];
  checkCount(linkList.length, uiLimits.linksPerGraph, 'links', `${prefix}links`);
  for (const l of linkList) {
    const link = readLink(l);
    if (link && !links.has(link.id)) links.set(link.id, link);
  }
  return { key, nodes, order, links };
}

function readNode(n: unknown, path: string, forcedId?: string): UiNode | undefined {
  if (!isObject(n)) return undefined;
  const id = forcedId ?? idOf(n.id);
  if (id === undefined) {
    throw new UiConversionError('invalidWorkflow', `The node at ${path} has no valid id. Re-save the workflow in ComfyUI.`);
  }
  const type = typeof n.type === 'string' ? n.type : '';
  if (!type) {
    throw new UiConversionError('invalidWorkflow', `Node ${shown(id)} at ${path} has no type. Re-save the workflow in ComfyUI.`);
  }
  const properties = new Map<string, unknown>();
  if (isObject(n.properties)) for (const k of Object.keys(n.properties)) properties.set(k, n.properties[k]);
  return {
    id,
    type,
    mode: typeof n.mode === 'number' ? n.mode : 0,
    savedTitle: typeof n.title === 'string' ? n.title : undefined,
    inputs: (Array.isArray(n.inputs) ? n.inputs : []).map(readSlot),
    outputs: (Array.isArray(n.outputs) ? n.outputs : []).map((o: unknown) => ({
      type: isObject(o) ? typeText(o.type) : '',
      links: isObject(o) && Array.isArray(o.links) ? o.links.map(idOf).filter((x): x is string => x !== undefined) : [],
    })),
    widgetsValues: Array.isArray(n.widgets_values) ? n.widgets_values : undefined,
    properties,
    path,
    executionOrder: typeof n.order === 'number' && Number.isFinite(n.order) ? n.order : undefined,
  };
}

function readSlot(s: unknown): UiSlot {
  if (!isObject(s)) return { name: '', type: '', link: undefined, widgetName: undefined };
  const widget = isObject(s.widget) && typeof s.widget.name === 'string' ? s.widget.name : undefined;
  return {
    name: typeof s.name === 'string' ? s.name : '',
    type: typeText(s.type),
    link: idOf(s.link),
    widgetName: widget,
  };
}

function readLink(l: unknown): UiLink | undefined {
  // Root graphs save `[id, origin_id, origin_slot, target_id, target_slot, type]`, subgraphs objects.
  const fields: Record<string, unknown> | undefined = Array.isArray(l)
    ? { id: l[0], originId: l[1], originSlot: l[2], targetId: l[3], targetSlot: l[4], type: l[5] }
    : isObject(l)
      ? { id: l.id, originId: l.origin_id, originSlot: l.origin_slot, targetId: l.target_id, targetSlot: l.target_slot, type: l.type }
      : undefined;
  if (!fields) return undefined;
  const id = idOf(fields.id);
  const originId = idOf(fields.originId);
  const targetId = idOf(fields.targetId);
  const originSlot = slotOf(fields.originSlot);
  const targetSlot = slotOf(fields.targetSlot);
  if (id === undefined || originId === undefined || targetId === undefined || originSlot === undefined || targetSlot === undefined) {
    return undefined;
  }
  return { id, originId, originSlot, targetId, targetSlot, type: typeText(fields.type) };
}

function readPorts(value: unknown): UiSubgraphPort[] {
  return (Array.isArray(value) ? value : []).map((p: unknown) => ({
    name: isObject(p) && typeof p.name === 'string' ? p.name : '',
    type: isObject(p) ? typeText(p.type) : '',
    linkIds: isObject(p) && Array.isArray(p.linkIds) ? p.linkIds.map(idOf).filter((x): x is string => x !== undefined) : [],
  }));
}

/** A node or link id as the string key the prompt uses; undefined for anything else. */
export function idOf(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && v.length > 0 && v.length <= 200) return v;
  return undefined;
}

function slotOf(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 100_000 ? n : undefined;
}

function typeText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  // Combo outputs are typed by their choices; they match only "*" and exact equals, like the frontend's string compare.
  return Array.isArray(v) ? 'COMBO' : '';
}
