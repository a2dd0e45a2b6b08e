/**
 * A streaming `multipart/form-data` parser: part bodies are handed on chunk by chunk as they
 * arrive, so a 1 GiB upload flows to disk with a bounded buffer (at most one chunk plus the
 * boundary length is held). Written here rather than pulled from npm: it is ~150 lines and the
 * simulator needs aiohttp's exact size accounting for the 413 reply.
 */

/** One part's headers, as `request.post()` sees them. */
export interface MultipartPartInfo {
  /** `Content-Disposition` `name`. */
  name: string;
  /** `Content-Disposition` `filename` (present means a file field, even when empty). */
  filename?: string;
  contentType?: string;
  headers: Record<string, string>;
}

/** Receives the parts in order; `data` may be awaited to apply backpressure. */
export interface MultipartHandler {
  begin(part: MultipartPartInfo): void | Promise<void>;
  data(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

/** Thrown for a body that is not valid multipart for the given boundary. */
export class MultipartError extends Error {}

/** The boundary of a `multipart/form-data` Content-Type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\b/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/** Decodes RFC 2231 / RFC 5987 `filename*=utf-8''...` and plain quoted parameters. */
function dispositionParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const key = m[1].toLowerCase();
    const raw = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '').trim();
    if (key.endsWith('*')) {
      const ext = /^([^']*)'[^']*'(.*)$/.exec(raw);
      try {
        out[key.slice(0, -1)] = ext ? decodeURIComponent(ext[2]) : raw;
      } catch {
        out[key.slice(0, -1)] = raw;
      }
    } else if (!(key in out)) {
      out[key] = raw;
    }
  }
  return out;
}

type State = 'preamble' | 'boundary' | 'headers' | 'body' | 'done';

/** Feeds chunks in with `write`, then `finish`; calls the handler for every part. */
export class MultipartParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: State = 'preamble';
  private readonly dashBoundary: Buffer;
  private readonly delimiter: Buffer;

  constructor(
    boundary: string,
    private readonly handler: MultipartHandler,
  ) {
    this.dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  }

  async write(chunk: Buffer): Promise<void> {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      switch (this.state) {
        case 'done':
          this.buf = Buffer.alloc(0);
          return;
        case 'preamble': {
          const i = this.buf.indexOf(this.dashBoundary);
          if (i < 0) {
            this.buf = this.buf.subarray(Math.max(0, this.buf.length - this.dashBoundary.length));
            return;
          }
          this.buf = this.buf.subarray(i + this.dashBoundary.length);
          this.state = 'boundary';
          break;
        }
        case 'boundary': {
          // Right after a boundary: "--" closes the body, otherwise the line ends and headers follow.
          if (this.buf.length < 2) return;
          if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) {
            this.state = 'done';
            break;
          }
          const eol = this.buf.indexOf('\r\n');
          if (eol < 0) {
            if (this.buf.length > 1024) throw new MultipartError('a boundary line does not end');
            return;
          }
          this.buf = this.buf.subarray(eol + 2);
          this.state = 'headers';
          break;
        }
        case 'headers': {
          const end = this.buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (this.buf.length > 64 * 1024) throw new MultipartError('part headers are longer than 64 KiB');
            return;
          }
          const headers: Record<string, string> = {};
          for (const line of this.buf.toString('utf8', 0, end).split('\r\n')) {
            const colon = line.indexOf(':');
            if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
          }
          this.buf = this.buf.subarray(end + 4);
          const params = dispositionParams(headers['content-disposition'] ?? '');
          await this.handler.begin({ name: params.name ?? '', filename: params.filename, contentType: headers['content-type'], headers });
          this.state = 'body';
          break;
        }
        case 'body': {
          const i = this.buf.indexOf(this.delimiter);
          if (i < 0) {
            // Keep a tail that could be the start of a delimiter split across chunks.
            const keep = Math.min(this.buf.length, this.delimiter.length - 1);
            const out = this.buf.subarray(0, this.buf.length - keep);
            this.buf = this.buf.subarray(this.buf.length - keep);
            if (out.length) await this.handler.data(out);
            return;
          }
          if (i > 0) await this.handler.data(this.buf.subarray(0, i));
          await this.handler.end();
          this.buf = this.buf.subarray(i + this.delimiter.length);
          this.state = 'boundary';
          break;
        }
      }
    }
  }

  /** Throws when the body ended before the closing boundary. */
  finish(): void {
    if (this.state !== 'done') throw new MultipartError('the multipart body ended before its closing boundary');
  }
}
