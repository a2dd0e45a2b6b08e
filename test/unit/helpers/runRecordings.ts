import * as fs from 'node:fs';
import * as path from 'node:path';

/** The captures of a real ComfyUI 0.3.64 (see recordings/comfyui-0.3.64/README.md). */
export const recordingsDir = path.resolve(__dirname, '../../../../recordings/comfyui-0.3.64');

/** One captured websocket frame: text with its JSON, or binary summarised by its header fields. */
export interface RecordedFrame {
  readonly t: number;
  readonly kind: 'text' | 'binary';
  readonly msg?: { type: string; data: Record<string, unknown> };
  readonly length?: number;
  readonly head_hex?: string;
  readonly event_type?: number;
  readonly image_format_code?: number;
  readonly metadata?: Record<string, unknown>;
  readonly node_id?: string;
  readonly text?: string;
}

/** Reads a recording file as JSON. */
export function readRecording<T = unknown>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(recordingsDir, name), 'utf8')) as T;
}

/** Every frame list in a ws_*.json capture, whatever its layout (a list, `frames`, or named phases). */
export function recordedFrames(name: string): RecordedFrame[] {
  const raw = readRecording<unknown>(name);
  if (Array.isArray(raw)) return raw as RecordedFrame[];
  const obj = raw as Record<string, unknown>;
  if (Array.isArray(obj.frames)) return obj.frames as RecordedFrame[];
  return Object.values(obj).filter((v): v is RecordedFrame[] => Array.isArray(v) && isFrame(v[0])).flat();
}

/** Every ws_*.json capture, old build included. */
export function allSocketRecordings(): string[] {
  const top = fs.readdirSync(recordingsDir).filter((f) => /^ws_.*\.json$/.test(f));
  const old = fs.readdirSync(path.join(recordingsDir, 'old-2024-12')).filter((f) => /^ws_.*\.json$/.test(f)).map((f) => `old-2024-12/${f}`);
  return [...top, ...old];
}

/**
 * Rebuilds the bytes of a recorded binary frame from its header fields and the image cut out of
 * it (the captures keep the run-A PNGs separately). The result's length and first 16 bytes equal
 * the recording's, which the caller can check.
 */
export function rebuildBinaryFrame(frame: RecordedFrame): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(frame.event_type ?? 0, 0);
  switch (frame.event_type) {
    case 1: {
      head.writeUInt32BE(frame.image_format_code ?? 0, 4);
      const png = fs.readFileSync(path.join(recordingsDir, 'ws_binary_preview_legacy.png'));
      if (frame.length === 8 + png.length) return Buffer.concat([head, png]);
      // A preview whose image was not kept: its recorded first bytes, padded to the recorded length.
      const image = Buffer.alloc((frame.length ?? 16) - 8);
      Buffer.from(frame.head_hex ?? '', 'hex').subarray(8).copy(image);
      return Buffer.concat([head, image]);
    }
    case 4: {
      // The server writes the metadata with Python's json.dumps: ", " and ": " separators.
      const meta = Buffer.from(
        `{${Object.entries(frame.metadata ?? {})
          .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
          .join(', ')}}`,
      );
      head.writeUInt32BE(meta.length, 4);
      return Buffer.concat([head, meta, fs.readFileSync(path.join(recordingsDir, 'ws_binary_preview_meta.png'))]);
    }
    case 3: {
      const node = Buffer.from(frame.node_id ?? '');
      head.writeUInt32BE(node.length, 4);
      return Buffer.concat([head, node, Buffer.from(frame.text ?? '')]);
    }
    default:
      throw new Error(`no rebuild for binary event type ${frame.event_type}`);
  }
}

function isFrame(v: unknown): v is RecordedFrame {
  return typeof v === 'object' && v !== null && 'kind' in v;
}
