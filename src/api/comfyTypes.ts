/**
 * Wire shapes of a ComfyUI server (0.3.x), as it sends and accepts them. Types only: no code lives
 * here, so every layer can import it for free. Field names follow the server exactly (snake_case);
 * where the server is loose (custom nodes add their own keys) the types stay open.
 */

/** A link from an input to another node's output: `[source node id, output index]`. */
export type ApiLink = [nodeId: string, outputIndex: number];

/** An input value in an API-format prompt: a literal (number, string, bool, list, object) or an {@link ApiLink}. */
export type ApiInputValue = unknown;

/** One node of an API-format prompt. Extra keys (`_meta`, …) are ignored by the server. */
export interface ApiNode {
  class_type: string;
  inputs: Record<string, ApiInputValue>;
  _meta?: { title?: string };
}

/** An API-format prompt (`workflow_api.json`): node id → node. */
export type ApiPrompt = Record<string, ApiNode>;

/** One input's declaration in `/object_info`: `[TYPE or combo options, options?]`. */
export type InputSpec = [type: string | readonly unknown[], options?: InputSpecOptions];

/** The options object of an {@link InputSpec}. Only the keys this project reads are named. */
export interface InputSpecOptions {
  default?: unknown;
  min?: number;
  max?: number;
  step?: number;
  /** V3 combo inputs (`["COMBO", {options: [...]}]`) carry their choices here. */
  options?: readonly unknown[];
  /** Upload widgets: the combo lists the server's input files, and local files can be uploaded instead. */
  image_upload?: boolean;
  video_upload?: boolean;
  audio_upload?: boolean;
  tooltip?: string;
  [key: string]: unknown;
}

/** One node class in `GET /object_info`. */
export interface NodeClassInfo {
  input: {
    required?: Record<string, InputSpec>;
    optional?: Record<string, InputSpec>;
    /** Filled by the server (`prompt`, `extra_pnginfo`, `unique_id`); never expected in a prompt. */
    hidden?: Record<string, unknown>;
  };
  input_order?: Record<string, string[]>;
  /** Output types by index; a combo output is a list of choices. */
  output: (string | unknown[])[];
  output_is_list?: boolean[];
  output_name?: string[];
  name: string;
  display_name?: string;
  description?: string;
  python_module?: string;
  category?: string;
  /** True for nodes that make a prompt worth running (SaveImage, PreviewImage, …). */
  output_node: boolean;
  deprecated?: boolean;
  experimental?: boolean;
  api_node?: boolean;
}

/** `GET /object_info`: class name → info. */
export type ObjectInfo = Record<string, NodeClassInfo>;

/** A file a node produced, as listed in a history entry or an `executed` message. */
export interface OutputFileRef {
  filename: string;
  subfolder?: string;
  /** `output`, `temp` or `input`; the server treats a missing type as `output`. */
  type?: string;
  /** VideoHelperSuite and others: the media type, for example `video/h264-mp4` or `image/gif`. */
  format?: string;
  [key: string]: unknown;
}

/**
 * One node's UI output (`outputs[nodeId]`). Known keys: `images`, `gifs`, `audio`, `video`, `3d`
 * (lists of {@link OutputFileRef}), `animated` (`[true]` when `images` are animations), `text`
 * (strings); custom nodes add more.
 */
export type NodeOutput = Record<string, unknown>;

/** A history entry's `status`. */
export interface HistoryStatus {
  /** `success` or `error` (interrupted runs are `error` too; see `messages`). */
  status_str: string;
  completed: boolean;
  /** `[message type, data]` pairs: `execution_start`, `execution_cached`, `execution_success`, `execution_error`, `execution_interrupted`. */
  messages: [string, Record<string, unknown>][];
}

/** One entry of `GET /history/{prompt_id}` (the value under the prompt id). */
export interface HistoryEntry {
  /** `[number, prompt_id, prompt, extra_data, output node ids]`. */
  prompt: [number, string, ApiPrompt, Record<string, unknown>, string[]];
  outputs: Record<string, NodeOutput>;
  status: HistoryStatus | null;
  meta?: Record<string, { node_id: string; display_node: string; parent_node: string | null; real_node_id: string }>;
}

/** One validation error of a node, inside `node_errors[id].errors`. */
export interface NodeValidationError {
  /** `required_input_missing`, `value_not_in_list`, `return_type_mismatch`, … */
  type: string;
  message: string;
  details: string;
  extra_info: { input_name?: string; received_value?: unknown; input_config?: InputSpec; [key: string]: unknown };
}

/** `node_errors` of a POST /prompt response: node id → its errors. */
export type NodeErrors = Record<
  string,
  { errors: NodeValidationError[]; dependent_outputs: string[]; class_type: string }
>;
