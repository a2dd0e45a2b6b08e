import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** A text field of a multipart/form-data body. */
export interface MultipartField {
  readonly name: string;
  readonly value: string;
}

/** A file part, read from disk while the body is sent. */
export interface MultipartFile {
  /** The form field name (`image` for ComfyUI's upload route). */
  readonly name: string;
  /** The file name the server sees. */
  readonly filename: string;
  /** Where the bytes are read from. */
  readonly path: string;
  readonly contentType?: string;
}

/** A multipart/form-data body whose length is known before a byte is read. */
export interface MultipartBody {
  /** The value for the `Content-Type` header, with the boundary. */
  readonly contentType: string;
  /** Exact byte length of the body, for `Content-Length`. */
  readonly length: number;
  /**
   * A fresh stream of the body. Files are read in chunks as the consumer pulls (backpressure),
   * never whole. Errors if a file's size changed since the body was built, because the declared
   * length would then be a lie. `onProgress` hears the bytes handed on so far.
   */
  stream(onProgress?: (sent: number) => void): Readable;
}

const crlf = '\r\n';

/**
 * Builds a streamed multipart/form-data body: fields first, then files, in the given order.
 * The length is computed from the files' sizes, so the request can carry a `Content-Length`
 * (ComfyUI's aiohttp enforces its upload limit from it, and some proxies refuse chunked uploads).
 */
export async function createMultipartBody(fields: readonly MultipartField[], files: readonly MultipartFile[]): Promise<MultipartBody> {
  const boundary = `----runcomfy${randomBytes(12).toString('hex')}`;
  const parts: (Buffer | { path: string; size: number })[] = [];
  for (const f of fields) {
    parts.push(Buffer.from(`--${boundary}${crlf}Content-Disposition: form-data; name="${quote(f.name)}"${crlf}${crlf}${f.value}${crlf}`, 'utf8'));
  }
  for (const f of files) {
    const info = await stat(f.path);
    if (!info.isFile()) throw new Error(`${f.path} is not a regular file.`);
    const head =
      `--${boundary}${crlf}Content-Disposition: form-data; name="${quote(f.name)}"; filename="${quote(f.filename)}"${crlf}` +
      `Content-Type: ${f.contentType ?? 'application/octet-stream'}${crlf}${crlf}`;
    parts.push(Buffer.from(head, 'utf8'), { path: f.path, size: info.size }, Buffer.from(crlf));
  }
  parts.push(Buffer.from(`--${boundary}--${crlf}`));
  const length = parts.reduce((n, p) => n + (Buffer.isBuffer(p) ? p.length : p.size), 0);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
    // A 1 MiB buffer lets the next file chunks be read while the socket drains the last ones: read and
    // send overlap, and each chunk is handed on soon after it is read (1 GiB to the simulator: peak RSS
    // growth 34-37 MiB with the default 16 KiB, 3-12 MiB with this).
    stream: (onProgress) => Readable.from(generate(parts, onProgress), { objectMode: false, highWaterMark: 1024 * 1024 }),
  };
}

async function* generate(parts: readonly (Buffer | { path: string; size: number })[], onProgress?: (sent: number) => void): AsyncGenerator<Buffer> {
  let total = 0;
  const out = (buf: Buffer) => {
    total += buf.length;
    onProgress?.(total);
    return buf;
  };
  for (const p of parts) {
    if (Buffer.isBuffer(p)) {
      yield out(p);
      continue;
    }
    let read = 0;
    for await (const chunk of createReadStream(p.path, { highWaterMark: 256 * 1024 })) {
      const buf = chunk as Buffer;
      read += buf.length;
      if (read > p.size) break;
      yield out(buf);
    }
    if (read !== p.size) throw new Error(`${p.path} changed size while it was being uploaded (${p.size} bytes expected, ${read} read).`);
  }
}

/** Per the HTML form encoding: quotes and line breaks in names are percent-escaped, so they cannot end the header. */
function quote(s: string): string {
  return s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
