import type { ApiNode, ApiPrompt, NodeClassInfo, ObjectInfo } from '../../api/comfyTypes';
import { isObject } from '../../base/json';
import { processDynamicPrompt } from './dynamicPrompt';
import { type MissingNode, UiConversionError, missingClassesMessage, shown } from './errors';
import { type ReplacementNode, applyTextReplacements, saveNodeClasses } from './textReplacements';
import {
  type UiGraph,
  type UiNode,
  type UiSlot,
  type UiSubgraph,
  type UiWorkflow,
  readUiWorkflow,
  subgraphInputNodeId,
} from './uiGraph';
import { type WidgetSpec, widgetSpecs } from './widgets';

/** Options of {@link convertUiWorkflow}. */
export interface ConvertOptions {
  /** The clock for `%date:…%` in save-node prefixes (local time, as the browser uses). Default: now. */
  readonly now?: Date;
  /** The source of `{a|b}` choices in dynamic prompts (Math.random-shaped). Default: Math.random. */
  readonly random?: () => number;
  /** Names the server in messages ("this server", "machine abc"). */
  readonly where?: string;
}

/** Something the prompt lacks that the web page would have added (the prompt is still sent as is). */
export interface ConversionWarning {
  readonly nodeId: string;
  readonly classType: string;
  /** The input left out. */
  readonly input: string;
  readonly message: string;
}

/**
 * A dynamic-prompt text rewritten at conversion (`{a|b}` choices made, comments stripped), so a run
 * can record what was picked: the same file converts to another text next time.
 */
export interface DynamicPromptText {
  readonly nodeId: string;
  readonly input: string;
  /** The text as saved in the file. */
  readonly template: string;
  /** The text the prompt carries. */
  readonly text: string;
}

/** The result of {@link convertUiWorkflow}. */
export interface ConvertResult {
  readonly prompt: ApiPrompt;
  /** Inputs only a browser can produce (webcam, microphone, 3D scene captures), left out. */
  readonly warnings: readonly ConversionWarning[];
  /** Every dynamic-prompt text that conversion changed, in the order the choices were made. */
  readonly dynamicPrompts: readonly DynamicPromptText[];
}

/** Nodes the frontend never sends: they only shape the graph in the editor. */
const frontendOnlyClasses = new Set(['Note', 'MarkdownNote', 'Reroute', 'PrimitiveNode']);
const modeNever = 2;
const modeBypass = 4;
/** Prompt nodes one file may expand to (subgraph instances multiply their definitions). */
const maxExecutableNodes = 50_000;
/** Subgraphs inside subgraphs, at most. */
const maxSubgraphDepth = 32;
/** Link hops one input may follow through reroutes, bypassed nodes and subgraph borders. */
const maxResolutionSteps = 2_000;

/**
 * Converts a UI-format workflow (what ComfyUI's Save writes) into the API prompt ComfyUI's own
 * frontend would queue for it (its `graphToPrompt`), using the target server's `/object_info` for
 * each class's widgets. Muted nodes are left out, bypassed ones passed through by type, reroutes and
 * primitive nodes resolved, subgraphs flattened to `"<instance>:<inner>"` ids and legacy group nodes
 * to `"<group node>:<index>"`. Values are sent as saved: seeds are never re-randomised.
 *
 * @param graph the parsed file (untrusted).
 * @throws UiConversionError `missingClasses` listing every node whose class `objectInfo` lacks, or
 *   `invalidWorkflow` for a file that is not a UI workflow or is broken beyond what the frontend repairs.
 */
export function convertUiWorkflow(graph: unknown, objectInfo: ObjectInfo, options: ConvertOptions = {}): ConvertResult {
  const workflow = readUiWorkflow(graph);
  const classes = new Map<string, NodeClassInfo>();
  if (isObject(objectInfo)) {
    for (const name of Object.keys(objectInfo)) {
      const info: unknown = objectInfo[name];
      if (isObject(info)) classes.set(name, info as unknown as NodeClassInfo);
    }
  }
  const converter = new Converter(workflow, classes, options);
  converter.checkClasses(options.where ?? 'this server');
  const prompt = converter.convert();
  return { prompt, warnings: converter.warnings, dynamicPrompts: converter.dynamicPrompts };
}

/** A widget's live value: one per node of a graph, shared by all instances of a subgraph (as in the frontend). */
interface Widget {
  readonly spec: WidgetSpec;
  value: unknown;
}

/** A node of a graph with its widgets built and its saved values applied. */
interface LiveNode {
  readonly ui: UiNode;
  readonly graph: UiGraph;
  readonly info: NodeClassInfo | undefined;
  readonly title: string;
  readonly widgets: Widget[];
  /** Set for a subgraph instance. */
  readonly subgraph: UiSubgraph | undefined;
  /** Set for a legacy group node. */
  readonly groupName: string | undefined;
  /** The input slots: as saved, or for a subgraph instance its definition's inputs. */
  readonly inputs: readonly UiSlot[];
  readonly outputTypes: readonly string[];
  /** For a subgraph instance: the inner widget each promoted input stands for, by input name. */
  readonly promoted: Map<string, Widget>;
}

/** One executable node: a live node at a path of subgraph instances (the frontend's ExecutableNodeDTO). */
interface Executable {
  readonly id: string;
  readonly live: LiveNode;
  readonly path: readonly string[];
  /** The subgraph instance that contains it. */
  readonly parent: Executable | undefined;
  /** For group node children: their inputs and links are rewritten to the group's own. */
  readonly groupLinks?: GroupLinks;
}

/** How a legacy group node's child resolves its inputs (inside the group or through the group node). */
interface GroupLinks {
  readonly group: Executable;
  /** Per child input slot: an inner origin (index, slot), or the group node's input slot. */
  readonly inputs: ReadonlyMap<number, { readonly inner?: { index: number; slot: number }; readonly outer?: number }>;
}

type Resolved = { readonly originId: string; readonly originSlot: number } | { readonly widgetValue: unknown };

class Converter {
  private readonly live = new Map<UiGraph, Map<string, LiveNode>>();
  private readonly executables = new Map<string, Executable>();
  private readonly now: Date;
  private readonly random: () => number;
  readonly warnings: ConversionWarning[] = [];
  readonly dynamicPrompts: DynamicPromptText[] = [];

  constructor(
    private readonly workflow: UiWorkflow,
    private readonly classes: ReadonlyMap<string, NodeClassInfo>,
    options: ConvertOptions,
  ) {
    this.now = options.now ?? new Date();
    this.random = options.random ?? Math.random;
  }

  /** Throws `missingClasses` when any node that is not frontend-only has a class the server lacks. */
  checkClasses(where: string): void {
    const missing: MissingNode[] = [];
    const visit = (nodes: readonly UiNode[]) => {
      for (const n of nodes) {
        if (this.classes.has(n.type) || frontendOnlyClasses.has(n.type) || this.workflow.subgraphs.has(n.type)) continue;
        if (this.groupNameOf(n.type) !== undefined) continue;
        missing.push({ nodeId: n.id, classType: n.type, title: n.savedTitle, path: n.path });
      }
    };
    visit(this.workflow.root.order);
    for (const sg of this.workflow.subgraphs.values()) visit(sg.graph.order);
    for (const g of this.workflow.groupNodes.values()) visit(g.nodes);
    if (missing.length) throw new UiConversionError('missingClasses', missingClassesMessage(missing, where), missing);
  }

  convert(): ApiPrompt {
    // Subgraph definitions are configured before the root graph, so a promoted value saved on a
    // root instance is applied last (and, as in the frontend, shared by every instance).
    for (const sg of this.workflow.subgraphs.values()) this.liveGraph(sg.graph);
    this.liveGraph(this.workflow.root);
    for (const graph of this.live.keys()) this.applyPrimitives(graph);

    // Nodes are serialised in execution order, which decides which dynamic-prompt choice each
    // text gets from the random source; the saved `order` is the frontend's last one.
    const rootOrder = [...this.workflow.root.order].sort((a, b) => (a.executionOrder ?? Number.MAX_SAFE_INTEGER) - (b.executionOrder ?? Number.MAX_SAFE_INTEGER));
    for (const node of rootOrder) this.addExecutable(this.liveNode(this.workflow.root, node.id), [], undefined, []);

    const output: ApiPrompt = {};
    for (const exe of this.executables.values()) {
      const { live } = exe;
      if (this.isVirtual(live) || live.ui.mode === modeNever || live.ui.mode === modeBypass) continue;
      const inputs: Record<string, unknown> = {};
      for (const widget of live.widgets) {
        if (widget.spec.browserCapture && !live.inputs.some((i) => i.name === widget.spec.name && i.link !== undefined)) {
          this.warnings.push({
            nodeId: exe.id,
            classType: live.ui.type,
            input: widget.spec.name,
            message: `Node ${shown(exe.id)} (${shown(live.title)}): input "${shown(widget.spec.name)}" is captured by ComfyUI's web page when it queues (camera, microphone or 3D view); it is left out, so the server will ask for it. Queue this workflow from the web page, or replace the node with a file loader.`,
          });
        }
        if (!widget.spec.inPrompt) continue;
        setOwn(inputs, widget.spec.name, wrapArray(this.serializeWidget(exe.id, live, widget)));
      }
      live.inputs.forEach((input, slot) => {
        const resolved = this.resolveInput(exe, slot, new Set());
        if (!resolved) return;
        setOwn(inputs, input.name, 'widgetValue' in resolved ? wrapArray(resolved.widgetValue) : [resolved.originId, resolved.originSlot]);
      });
      const entry: ApiNode = { inputs, class_type: live.ui.type, _meta: { title: live.title } };
      setOwn(output, exe.id, entry);
    }
    // Inputs fed by nodes that were left out (muted) are dropped, as the frontend does.
    for (const id of Object.keys(output)) {
      const { inputs } = output[id];
      for (const name of Object.keys(inputs)) {
        const v = inputs[name];
        if (Array.isArray(v) && v.length === 2 && !Object.prototype.hasOwnProperty.call(output, String(v[0]))) delete inputs[name];
      }
    }
    return output;
  }

  // ---- building live nodes -------------------------------------------------------------------

  private liveGraph(graph: UiGraph): Map<string, LiveNode> {
    let nodes = this.live.get(graph);
    if (nodes) return nodes;
    nodes = new Map();
    this.live.set(graph, nodes);
    for (const ui of graph.order) nodes.set(ui.id, this.makeLive(graph, ui));
    // Promoted values are written into the inner widgets once all nodes exist.
    for (const live of nodes.values()) if (live.subgraph) this.configureInstance(live);
    return nodes;
  }

  private liveNode(graph: UiGraph, id: string): LiveNode | undefined {
    return this.liveGraph(graph).get(id);
  }

  private makeLive(graph: UiGraph, ui: UiNode, applySaved = true): LiveNode {
    const info = this.classes.get(ui.type);
    const subgraph = this.workflow.subgraphs.get(ui.type);
    const groupName = subgraph ? undefined : this.groupNameOf(ui.type);
    const widgets: Widget[] = info ? widgetSpecs(info, ui.type).map((spec) => ({ spec, value: spec.defaultValue })) : [];
    if (applySaved && ui.widgetsValues) applyValues(widgets, ui.widgetsValues);
    const displayName = info && typeof info.display_name === 'string' && info.display_name ? info.display_name : undefined;
    let inputs: readonly UiSlot[] = ui.inputs;
    let outputTypes = ui.outputs.map((o) => o.type);
    if (subgraph) {
      // The instance's slots are its definition's inputs; the saved slot of the same name (or an
      // unnamed one at the same index) says what is linked to it.
      inputs = subgraph.inputs.map((port, i) => {
        const saved = ui.inputs.find((s) => s.name === port.name) ?? (ui.inputs[i]?.name ? undefined : ui.inputs[i]);
        return { name: port.name, type: port.type, link: saved?.link, widgetName: undefined };
      });
      outputTypes = subgraph.outputs.map((o) => o.type);
    } else if (!outputTypes.length && info && Array.isArray(info.output)) {
      outputTypes = info.output.map((t) => (typeof t === 'string' ? t : 'COMBO'));
    }
    return {
      ui,
      graph,
      info,
      title: ui.savedTitle ?? displayName ?? ui.type,
      widgets,
      subgraph,
      groupName,
      inputs,
      outputTypes,
      promoted: new Map(),
    };
  }

  /** Binds a subgraph instance's widget inputs to the inner widgets and applies its saved values. */
  private configureInstance(live: LiveNode): void {
    const sg = live.subgraph;
    if (!sg) return;
    const inner = this.liveGraph(sg.graph);
    const promotedInOrder: Widget[] = [];
    sg.inputs.forEach((port, index) => {
      for (const linkId of port.linkIds) {
        const link = sg.graph.links.get(linkId);
        if (link?.originId !== subgraphInputNodeId || link.originSlot !== index) continue;
        const target = inner.get(link.targetId);
        const slot = target?.inputs[link.targetSlot];
        if (!target || !slot) continue;
        const widget = this.widgetForSlot(target, slot);
        if (widget) {
          live.promoted.set(port.name, widget);
          promotedInOrder.push(widget);
          return;
        }
      }
    });
    const values = live.ui.widgetsValues ?? [];
    promotedInOrder.forEach((w, i) => {
      if (i < values.length) w.value = values[i];
    });
  }

  /** The widget an input slot stands for (a converted widget, or a promoted one on an instance). */
  private widgetForSlot(node: LiveNode, slot: UiSlot): Widget | undefined {
    if (node.subgraph) return node.promoted.get(slot.name);
    const name = slot.widgetName ?? slot.name;
    return slot.widgetName !== undefined || node.widgets.some((w) => w.spec.name === name)
      ? node.widgets.find((w) => w.spec.name === name)
      : undefined;
  }

  /** PrimitiveNode.applyToGraph: the primitive's value is written into every widget it feeds. */
  private applyPrimitives(graph: UiGraph): void {
    const nodes = this.liveGraph(graph);
    for (const live of nodes.values()) {
      if (live.ui.type !== 'PrimitiveNode') continue;
      const linkIds = live.ui.outputs[0]?.links ?? [];
      if (!linkIds.length || !live.ui.widgetsValues?.length) continue;
      let value = live.ui.widgetsValues[0];
      if (typeof value === 'string' && value && live.ui.properties.get('Run widget replace on values') === true) {
        value = applyTextReplacements(value, this.replacementNodes(), this.now);
      }
      for (const linkId of linkIds) {
        const link = graph.links.get(linkId);
        const target = link ? nodes.get(link.targetId) : undefined;
        const slot = link ? target?.inputs[link.targetSlot] : undefined;
        const widget = target && slot ? this.widgetForSlot(target, slot) : undefined;
        if (widget) widget.value = value;
      }
    }
  }

  // ---- flattening ----------------------------------------------------------------------------

  private addExecutable(live: LiveNode | undefined, path: readonly string[], parent: Executable | undefined, enclosing: readonly UiSubgraph[]): void {
    if (!live) return;
    const id = [...path, live.ui.id].join(':');
    if (this.executables.size >= maxExecutableNodes) {
      throw new UiConversionError('invalidWorkflow', `The workflow expands to more than ${maxExecutableNodes} nodes (subgraphs inside subgraphs); it is too large to convert.`);
    }
    const exe: Executable = { id, live, path, parent };
    if (live.subgraph) {
      if (enclosing.length >= maxSubgraphDepth || enclosing.includes(live.subgraph)) {
        throw new UiConversionError(
          'invalidWorkflow',
          `Subgraph ${shown(live.subgraph.id)} (node ${shown(id)}) contains itself, or subgraphs nest more than ${maxSubgraphDepth} deep. Fix the subgraph definitions in ComfyUI.`,
        );
      }
      const innerPath = [...path, live.ui.id];
      for (const inner of live.subgraph.graph.order) {
        this.addExecutable(this.liveNode(live.subgraph.graph, inner.id), innerPath, exe, [...enclosing, live.subgraph]);
      }
    } else if (live.groupName !== undefined) {
      this.addGroupChildren(exe);
    }
    this.executables.set(id, exe);
  }

  /**
   * Legacy group nodes expand to their definition's nodes with ids `"<group node id>:<index>"`. The
   * group node shows its children's widgets (those saved as converted inputs after the others) and
   * its saved values go to them in that order; its inputs are the children's inputs fed from outside.
   */
  private addGroupChildren(group: Executable): void {
    const def = this.workflow.groupNodes.get(group.live.groupName ?? '');
    if (!def) return;
    const graph: UiGraph = { key: `group:${def.name}`, nodes: new Map(def.nodes.map((n) => [n.id, n])), order: def.nodes, links: new Map() };
    const children = def.nodes.map((ui) => this.makeLive(graph, ui, false));
    const innerLinks = new Map<string, { index: number | undefined; slot: number }>();
    const linkedOutputs = new Set<string>();
    for (const l of def.links) {
      const [originIndex, originSlot, targetIndex, targetSlot] = l;
      if (typeof originSlot !== 'number' || typeof targetIndex !== 'number' || typeof targetSlot !== 'number') continue;
      const index = typeof originIndex === 'number' ? originIndex : undefined;
      innerLinks.set(`${targetIndex}:${targetSlot}`, { index, slot: originSlot });
      if (index !== undefined) linkedOutputs.add(`${index}:${originSlot}`);
    }

    const required: Widget[] = [];
    const optional: Widget[] = [];
    children.forEach((child, index) => {
      for (const widget of child.widgets) {
        const slot = child.inputs.findIndex((i) => i.widgetName === widget.spec.owner);
        if (slot === -1) required.push(widget);
        else if (innerLinks.get(`${index}:${slot}`)?.index === undefined) optional.push(widget);
      }
    });
    applyValues([...required, ...optional], group.live.ui.widgetsValues ?? []);

    let outerSlot = 0;
    children.forEach((child, index) => {
      const inputs = new Map<number, { inner?: { index: number; slot: number }; outer?: number }>();
      child.inputs.forEach((_, slot) => {
        const link = innerLinks.get(`${index}:${slot}`);
        if (!link) return;
        inputs.set(slot, link.index === undefined ? { outer: outerSlot++ } : { inner: { index: link.index, slot: link.slot } });
      });
      const id = `${group.id}:${index}`;
      this.executables.set(id, { id, live: child, path: group.path, parent: group.parent, groupLinks: { group, inputs } });
    });

    const outputs: { index: number; slot: number }[] = [];
    const external = new Set(
      def.external.flatMap((e) => {
        const index = typeof e[0] === 'number' ? e[0] : isObject(e[0]) && typeof e[0].index === 'number' ? e[0].index : undefined;
        return index !== undefined && typeof e[1] === 'number' ? [`${index}:${e[1]}`] : [];
      }),
    );
    children.forEach((child, index) => {
      child.outputTypes.forEach((_, slot) => {
        const key = `${index}:${slot}`;
        if (external.has(key) || !linkedOutputs.has(key)) outputs.push({ index, slot });
      });
    });
    this.groupOutputs.set(group.id, outputs);
  }

  /** Per expanded group node: which child output each of its outputs is. */
  private readonly groupOutputs = new Map<string, readonly { index: number; slot: number }[]>();

  private isVirtual(live: LiveNode): boolean {
    return frontendOnlyClasses.has(live.ui.type) || live.subgraph !== undefined || live.groupName !== undefined;
  }

  private groupNameOf(type: string): string | undefined {
    for (const sep of ['>', '/']) {
      const prefix = `workflow${sep}`;
      if (type.startsWith(prefix) && this.workflow.groupNodes.has(type.slice(prefix.length))) return type.slice(prefix.length);
    }
    return undefined;
  }

  // ---- link resolution (the frontend's ExecutableNodeDTO.resolveInput / resolveOutput) ---------

  private step(visited: Set<string>, key: string, exe: Executable, what: string): void {
    if (visited.has(key) || visited.size >= maxResolutionSteps) {
      throw new UiConversionError(
        'invalidWorkflow',
        `The links into node ${shown(exe.id)} (${shown(exe.live.title)}) go round in a circle (${what}). Reconnect them in ComfyUI.`,
      );
    }
    visited.add(key);
  }

  private resolveInput(exe: Executable, slot: number, visited: Set<string>, type?: string): Resolved | undefined {
    this.step(visited, `${exe.live.graph.key}:${exe.id}[I]${slot}`, exe, `input ${slot}`);
    if (exe.groupLinks) return this.resolveGroupChildInput(exe, exe.groupLinks, slot, visited, type);
    const input = exe.live.inputs[slot];
    if (input?.link === undefined) return undefined;
    const graph = exe.live.graph;
    const link = graph.links.get(input.link);
    // A link the file lists on the input but not in its links table: the frontend drops it on load.
    if (!link) return undefined;

    const instance = exe.parent;
    if (instance?.live.subgraph && link.originId === subgraphInputNodeId) {
      const outerInput = instance.live.inputs[link.originSlot];
      if (!outerInput) return undefined;
      if (outerInput.link === undefined) {
        const widget = instance.live.promoted.get(outerInput.name);
        return widget ? { widgetValue: widget.value } : undefined;
      }
      const outerLink = instance.live.graph.links.get(outerInput.link);
      if (!outerLink) return undefined;
      return this.resolveInput(instance, outerLink.targetSlot, visited);
    }
    const origin = this.executables.get([...exe.path, link.originId].join(':'));
    if (!origin) return undefined;
    return this.resolveOutput(origin, link.originSlot, type ?? input.type, visited);
  }

  private resolveOutput(exe: Executable, slot: number, type: string, visited: Set<string>): Resolved | undefined {
    this.step(visited, `${exe.live.graph.key}:${exe.id}[O]${slot}`, exe, `output ${slot}`);
    const { live } = exe;
    if (live.ui.mode === modeBypass) {
      const index = bypassSlot(live, slot, type);
      return index === -1 ? undefined : this.resolveInput(exe, index, visited);
    }
    if (live.subgraph) return this.resolveSubgraphOutput(exe, live.subgraph, slot, type, visited);
    if (live.groupName !== undefined) return this.resolveGroupOutput(exe, slot, type, visited);
    if (frontendOnlyClasses.has(live.ui.type)) {
      return live.inputs[slot] ? this.resolveInput(exe, slot, visited, type) : undefined;
    }
    return { originId: exe.id, originSlot: slot };
  }

  private resolveSubgraphOutput(exe: Executable, sg: UiSubgraph, slot: number, type: string, visited: Set<string>): Resolved | undefined {
    const port = sg.outputs[slot];
    const link = port?.linkIds.length ? sg.graph.links.get(port.linkIds[0]) : undefined;
    if (!link) return undefined;
    if (link.originId === subgraphInputNodeId) return this.resolveInput(exe, link.originSlot, visited, type);
    const inner = this.executables.get([...exe.path, exe.live.ui.id, link.originId].join(':'));
    return inner ? this.resolveOutput(inner, link.originSlot, type, visited) : undefined;
  }

  private resolveGroupChildInput(exe: Executable, links: GroupLinks, slot: number, visited: Set<string>, type?: string): Resolved | undefined {
    const input = exe.live.inputs[slot];
    const route = links.inputs.get(slot);
    if (!input || !route) return undefined;
    if (route.inner) {
      const origin = this.executables.get(`${links.group.id}:${route.inner.index}`);
      // Frontend 1.27 does not follow reroutes inside a group node: such inputs are left out.
      if (!origin || frontendOnlyClasses.has(origin.live.ui.type)) return undefined;
      return this.resolveOutput(origin, route.inner.slot, type ?? input.type, visited);
    }
    if (route.outer === undefined) return undefined;
    return this.resolveInput(links.group, route.outer, visited, type ?? input.type);
  }

  private resolveGroupOutput(exe: Executable, slot: number, type: string, visited: Set<string>): Resolved | undefined {
    const out = this.groupOutputs.get(exe.id)?.[slot];
    const inner = out ? this.executables.get(`${exe.id}:${out.index}`) : undefined;
    return out && inner ? this.resolveOutput(inner, out.slot, type, visited) : undefined;
  }

  // ---- widget values ---------------------------------------------------------------------------

  private serializeWidget(nodeId: string, live: LiveNode, widget: Widget): unknown {
    const { value } = widget;
    if (typeof value !== 'string') return value;
    if (widget.spec.dynamicPrompts) {
      const text = processDynamicPrompt(value, this.random);
      if (text !== value) this.dynamicPrompts.push({ nodeId, input: widget.spec.name, template: value, text });
      return text;
    }
    if (widget.spec.name === 'filename_prefix' && saveNodeClasses.has(live.ui.type)) {
      return applyTextReplacements(value, this.replacementNodes(), this.now);
    }
    return value;
  }

  private replacementCache: ReplacementNode[] | undefined;

  /** Every node of the file in graph order, as `%Node.widget%` searches them. */
  private replacementNodes(): ReplacementNode[] {
    if (this.replacementCache) return this.replacementCache;
    const out: ReplacementNode[] = [];
    for (const nodes of this.live.values()) {
      for (const live of nodes.values()) {
        const saved = live.ui.properties.get('Node name for S&R');
        const defaultName = live.info && !saveNodeClasses.has(live.ui.type) ? live.ui.type : undefined;
        out.push({
          searchName: typeof saved === 'string' ? saved : defaultName,
          title: live.title,
          widgetValue: (name) => {
            const w = live.widgets.find((x) => x.spec.name === name);
            return w ? { value: w.value } : undefined;
          },
        });
      }
    }
    // The root graph's nodes come first, as the frontend searches from the root.
    const rootNodes = this.live.get(this.workflow.root)?.size ?? 0;
    this.replacementCache = [...out.slice(out.length - rootNodes), ...out.slice(0, out.length - rootNodes)];
    return this.replacementCache;
  }
}

/** LGraphNode.configure: saved values go to the widgets in order, skipping those never saved. */
function applyValues(widgets: readonly Widget[], values: readonly unknown[]): void {
  let i = 0;
  for (const widget of widgets) {
    if (i >= values.length) break;
    if (widget.spec.saved) widget.value = values[i++];
  }
}

/** The input a bypassed node passes to a consumer of output `slot` typed `type` (-1: none fits). */
function bypassSlot(live: LiveNode, slot: number, type: string): number {
  const { inputs } = live;
  if (type === '*' || type === '') return inputs.length > slot ? slot : inputs.length ? 0 : -1;
  const outputType = live.outputTypes[slot] ?? '';
  const opposite = inputs[slot];
  if (opposite && validConnection(opposite.type, outputType) && validConnection(opposite.type, type)) return slot;
  const exact = inputs.findIndex((i) => i.type === type);
  if (exact !== -1) return exact;
  return inputs.findIndex((i) => validConnection(i.type, outputType) && validConnection(i.type, type));
}

/** LiteGraph.isValidConnection: `*` and empty match anything; comma lists match any member; case-insensitive. */
function validConnection(a: string, b: string): boolean {
  if (!a || a === '*' || !b || b === '*' || a === b) return true;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (!x.includes(',') && !y.includes(',')) return x === y;
  const ys = y.split(',');
  return x.split(',').some((p) => ys.some((q) => p === q || p === '*' || q === '*' || !p || !q));
}

/** Array values would read as links; the frontend boxes them and the server unboxes them. */
function wrapArray(value: unknown): unknown {
  return Array.isArray(value) ? { __value__: value } : value;
}

/** Sets an own property even for keys like `__proto__` that plain assignment treats specially. */
function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}
