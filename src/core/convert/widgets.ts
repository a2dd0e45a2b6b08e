import type { InputSpecOptions, NodeClassInfo } from '../../api/comfyTypes';
import { isObject } from '../../base/json';

/**
 * One widget the frontend creates for a node class, in creation order. Those with `saved` take the
 * next slot of the saved `widgets_values`; those with `inPrompt` become prompt inputs.
 */
export interface WidgetSpec {
  readonly name: string;
  /** False for the frontend's helper widgets: `control_after_generate`, upload buttons. */
  readonly inPrompt: boolean;
  /** False for display widgets the frontend neither restores nor saves (`widget.serialize === false`). */
  readonly saved: boolean;
  /** The input this widget belongs to (a helper: its owner), for grouping. */
  readonly owner: string;
  /** The value before `widgets_values` is applied. */
  readonly defaultValue: unknown;
  /** Text the frontend runs through the dynamic-prompt pass. */
  readonly dynamicPrompts: boolean;
  /** A value the browser produces while queueing (webcam frame, recording, 3D scene capture). */
  readonly browserCapture?: boolean;
}

/** Widget types whose value the web page captures and uploads while it builds the prompt. */
const browserCaptureTypes = new Set(['WEBCAM', 'AUDIO_RECORD', 'LOAD_3D', 'LOAD_3D_ANIMATION']);

const scalarWidgetTypes = new Set(['INT', 'FLOAT', 'BOOLEAN', 'STRING']);
/** `INT` inputs with these names get a seed control widget even without `control_after_generate`. */
const legacySeedNames = new Set(['seed', 'noise_seed']);

/** The inputs of a class in declaration order: required, then optional. */
export function declaredInputs(info: NodeClassInfo): [name: string, spec: unknown, section: 'required' | 'optional'][] {
  const out: [string, unknown, 'required' | 'optional'][] = [];
  const sections = isObject(info.input) ? info.input : {};
  for (const section of ['required', 'optional'] as const) {
    const inputs = sections[section];
    if (isObject(inputs)) for (const name of Object.keys(inputs)) out.push([name, inputs[name], section]);
  }
  return out;
}

/**
 * Display widgets that frontend extensions add to some core classes, which `/object_info` does not
 * declare but the frontend sends (empty) in every prompt: `required` ones are appended after the
 * declared required inputs, `end` ones after everything.
 */
interface ExtensionWidget {
  readonly name: string;
  readonly at: 'required' | 'end';
}
const audioUi: ExtensionWidget = { name: 'audioUI', at: 'required' };
const extensionWidgets = new Map<string, ExtensionWidget>([
  ['LoadAudio', audioUi],
  ['SaveAudio', audioUi],
  ['PreviewAudio', audioUi],
  ['SaveAudioMP3', audioUi],
  ['SaveAudioOpus', audioUi],
  ['SaveAudioAdvanced', audioUi],
  ['PreviewAny', { name: 'preview', at: 'end' }],
  ['Preview3D', { name: 'image', at: 'end' }],
  ['Preview3DAnimation', { name: 'image', at: 'end' }],
]);

/** The widgets the frontend builds for `info` (class `classType`), in creation order. */
export function widgetSpecs(info: NodeClassInfo, classType: string): WidgetSpec[] {
  const widgets: WidgetSpec[] = [];
  const extra = extensionWidgets.get(classType);
  // Upload buttons are declared by the frontend as one more required input, after the others.
  let upload: WidgetSpec | undefined;
  let requiredDone = false;
  const endRequired = () => {
    if (requiredDone) return;
    requiredDone = true;
    if (extra?.at === 'required') widgets.push(display(extra.name));
    if (upload) widgets.push(upload);
  };
  for (const [name, spec, section] of declaredInputs(info)) {
    if (section === 'optional') endRequired();
    if (!Array.isArray(spec)) continue;
    const type: unknown = spec[0];
    const options: InputSpecOptions = isObject(spec[1]) ? spec[1] : {};
    if (options.forceInput === true) continue;
    if (typeof type === 'string' && browserCaptureTypes.has(type)) {
      widgets.push({ name, inPrompt: false, saved: true, owner: name, defaultValue: '', dynamicPrompts: false, browserCapture: true });
      continue;
    }
    const choices = Array.isArray(type) ? type : type === 'COMBO' && Array.isArray(options.options) ? options.options : undefined;
    if (!choices && !(typeof type === 'string' && scalarWidgetTypes.has(type))) continue;
    widgets.push({
      name,
      inPrompt: true,
      saved: true,
      owner: name,
      defaultValue: defaultFor(type, choices, options),
      dynamicPrompts: type === 'STRING' && options.dynamicPrompts === true,
    });
    const control = options.control_after_generate === true || (type === 'INT' && legacySeedNames.has(name));
    if (control && (type === 'INT' || choices)) {
      widgets.push(helper('control_after_generate', name, 'fixed'));
      if (choices) widgets.push(helper('control_filter_list', name, ''));
    }
    if (choices && section === 'required' && (options.image_upload === true || options.video_upload === true || options.audio_upload === true)) {
      upload = helper('upload', name, 'image');
    }
  }
  endRequired();
  if (extra?.at === 'end') widgets.push(display(extra.name));
  return widgets;
}

function helper(name: string, owner: string, defaultValue: unknown): WidgetSpec {
  return { name, inPrompt: false, saved: true, owner, defaultValue, dynamicPrompts: false };
}

function display(name: string): WidgetSpec {
  return { name, inPrompt: true, saved: false, owner: name, defaultValue: '', dynamicPrompts: false };
}

function defaultFor(type: unknown, choices: readonly unknown[] | undefined, options: InputSpecOptions): unknown {
  if ('default' in options) return options.default;
  if (choices) return choices[0];
  switch (type) {
    case 'INT':
    case 'FLOAT':
      return typeof options.min === 'number' && options.min > 0 ? options.min : 0;
    case 'BOOLEAN':
      return false;
    default:
      return '';
  }
}
