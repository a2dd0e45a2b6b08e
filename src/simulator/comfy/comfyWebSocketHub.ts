import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { parsePyJson, pyDumps, type PyDict, type PyObject, type PyValue } from './pyJson';

/** Binary frame event types (`protocol.BinaryEventTypes`). */
export const BinaryEvent = { previewImage: 1, text: 3, previewImageWithMetadata: 4 } as const;

/** ComfyUI's image format codes inside a type-1 frame. */
export const PreviewFormat = { jpeg: 1, png: 2 } as const;

/** What the hub asks its owner when a socket connects. */
export interface HubHost {
  /** `{"exec_info": {"queue_remaining": n}}`. */
  queueInfo(): PyObject;
  /** The running prompt's `client_id` and the node it is on (for the reconnect `executing` message). */
  runningClient(): { clientId: PyValue; lastNodeId: string | null };
  /** `feature_flags.get_server_features()`, or undefined for an old server that ignores the handshake. */
  serverFeatures(): PyObject | undefined;
}


/**
 * The server's socket table, with ComfyUI's routing: one socket per `clientId` (a newer one
 * replaces the older, and the older one's close removes the id, so the newer one goes deaf),
 * targeted messages only to that id, `null` target to everyone, feature-flag handshake on the
 * first text message, previews as binary type 1 or 4 depending on that handshake.
 */
export class ComfyWebSocketHub {
  private readonly sockets = new Map<string, WebSocket>();
  private readonly flags = new Map<string, PyDict>();
  /** Every open socket (registered or not) with the bytes it has been handed but not yet written. */
  private readonly pending = new Map<WebSocket, number>();
  /** Sockets being dropped: they get nothing new and are cut once what they already got is written. */
  private readonly dropping = new Set<WebSocket>();
  private capacityWaiters: (() => void)[] = [];

  /** Outstanding bytes per socket above which `waitForCapacity` holds a fast sender back. */
  highWaterMark = 8 * 1024 * 1024;

  constructor(private readonly host: HubHost) {}

  /** Number of sockets the routing table reaches. */
  get size(): number {
    return this.sockets.size;
  }

  /** Registers an upgraded socket under `clientId` (or a fresh hex id) and sends the greeting. */
  attach(socket: WebSocket, clientId: string | null): string {
    const sid = clientId || randomUUID().replace(/-/g, '');
    this.sockets.delete(sid);
    this.sockets.set(sid, socket);
    this.flags.set(sid, new Map());
    this.pending.set(socket, 0);
    let first = true;
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: PyValue;
      try {
        msg = parsePyJson(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
      } catch {
        return;
      }
      // ComfyUI calls data.get(...): anything but a dict raises there and leaves `first` as it was.
      if (!(msg instanceof Map)) return;
      if (first && msg.get('type') === 'feature_flags') {
        const clientFlags = msg.get('data');
        this.flags.set(sid, clientFlags instanceof Map ? clientFlags : new Map<string, PyValue>());
        const features = this.host.serverFeatures();
        if (features) this.sendJson('feature_flags', features, sid);
      }
      first = false;
    });
    socket.on('close', () => {
      this.pending.delete(socket);
      this.dropping.delete(socket);
      // ComfyUI pops by id, not by socket: closing an older duplicate unregisters the newer one.
      this.sockets.delete(sid);
      this.flags.delete(sid);
      this.releaseWaiters();
    });
    socket.on('error', () => {});
    this.sendJson('status', { status: this.host.queueInfo(), sid }, sid);
    const { clientId: running, lastNodeId } = this.host.runningClient();
    if (running === sid && lastNodeId !== null) this.sendJson('executing', { node: lastNodeId }, sid);
    return sid;
  }

  /** True when `sid` sent `supports_preview_metadata: true` first thing. */
  supportsPreviewMetadata(sid: PyValue): boolean {
    return typeof sid === 'string' && this.flags.get(sid)?.get('supports_preview_metadata') === true;
  }

  /** A JSON message: to `sid`'s socket, or to every socket when `sid` is null (a non-string id reaches no one). */
  sendJson(event: string, data: PyValue, sid: PyValue): void {
    this.deliver(pyDumps({ type: event, data }), sid);
  }

  /** A binary frame: 4-byte big-endian event type, then `payload`. */
  sendBytes(event: number, payload: Buffer, sid: PyValue): void {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(event, 0);
    this.deliver(Buffer.concat([head, payload]), sid);
  }

  /** A type-1 preview (`format` 2 = PNG). */
  sendPreview(image: Buffer, sid: PyValue, format: number = PreviewFormat.png): void {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(format, 0);
    this.sendBytes(BinaryEvent.previewImage, Buffer.concat([head, image]), sid);
  }

  /** A type-4 preview: JSON metadata (length-prefixed), then the image. */
  sendPreviewWithMetadata(image: Buffer, metadata: PyObject, sid: PyValue): void {
    const json = Buffer.from(pyDumps(metadata), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(json.length, 0);
    this.sendBytes(BinaryEvent.previewImageWithMetadata, Buffer.concat([len, json, image]), sid);
  }

  /** A type-3 TEXT frame for `nodeId`; ComfyUI sends these to every socket. */
  sendText(nodeId: string, text: string): void {
    const id = Buffer.from(nodeId, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(id.length, 0);
    this.sendBytes(BinaryEvent.text, Buffer.concat([len, id, Buffer.from(text, 'utf8')]), null);
  }

  /** Resolves once no socket has more than `highWaterMark` bytes waiting (flood senders call this). */
  waitForCapacity(): Promise<void> {
    if (this.belowHighWater()) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /**
   * Cuts every connection at the TCP level (no close frame), like a network drop. With `afterFlush`,
   * what each socket was already handed is written first and nothing new is sent to it, so a
   * client sees exactly the messages before the drop.
   */
  terminateAll(afterFlush = false): number {
    const sockets = [...this.pending.keys()];
    for (const s of sockets) {
      if (afterFlush && (this.pending.get(s) ?? 0) > 0) this.dropping.add(s);
      else s.terminate();
    }
    return sockets.length;
  }

  /** Closes every socket politely (server shutdown). */
  closeAll(): void {
    for (const s of [...this.pending.keys()]) s.close(1001, 'server shutting down');
  }

  private deliver(frame: string | Buffer, sid: PyValue): void {
    const targets = sid === null ? [...this.sockets.values()] : typeof sid === 'string' && this.sockets.has(sid) ? [this.sockets.get(sid)!] : [];
    const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
    for (const socket of targets) {
      if (socket.readyState !== socket.OPEN || this.dropping.has(socket)) continue;
      this.pending.set(socket, (this.pending.get(socket) ?? 0) + size);
      socket.send(frame, () => {
        const left = (this.pending.get(socket) ?? size) - size;
        if (this.pending.has(socket)) this.pending.set(socket, left);
        if (left <= 0 && this.dropping.has(socket)) socket.terminate();
        if (left <= this.highWaterMark) this.releaseWaiters();
      });
    }
  }

  private belowHighWater(): boolean {
    return [...this.pending.values()].every((n) => n <= this.highWaterMark);
  }

  private releaseWaiters(): void {
    if (this.capacityWaiters.length === 0 || !this.belowHighWater()) return;
    for (const w of this.capacityWaiters.splice(0)) w();
  }
}
