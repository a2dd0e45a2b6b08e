import { createHash, randomBytes, type Hash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
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
  /** Where the bytes are read from (and how messages name the file). */
  readonly path: string;
  /** The file already open: read from it (from the start) instead of opening `path`; left open. */
  readonly handle?: FileHandle;
  readonly contentType?: string;
  /** When set, the bytes read are hashed, and the body fails before its end if their sha256 (hex) differs. */
  readonly sha256?: string;
  /** Called after the file's last byte was read, before the body goes on; throwing fails the body there. */
  readonly beforeEnd?: () => Promise<void>;
}

/**
 * A file of the body changed while the body was read (size, content, or what `beforeEnd` checks).
 * The body fails before its end, so the server gets an unfinished request and saves nothing.
 */
export class LocalFileChangedError extends Error {
  override readonly name = 'LocalFileChangedError';
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
  const parts: (Buffer | FilePart)[] = [];
  for (const f of fields) {
    parts.push(Buffer.from(`--${boundary}${crlf}Content-Disposition: form-data; name="${quote(f.name)}"${crlf}${crlf}${f.value}${crlf}`, 'utf8'));
  }
  for (const f of files) {
    const info = f.handle ? await f.handle.stat() : await stat(f.path);
    if (!info.isFile()) throw new Error(`${f.path} is not a regular file.`);
    const head =
      `--${boundary}${crlf}Content-Disposition: form-data; name="${quote(f.name)}"; filename="${quote(f.filename)}"${crlf}` +
      `Content-Type: ${f.contentType ?? 'application/octet-stream'}${crlf}${crlf}`;
    parts.push(Buffer.from(head, 'utf8'), { path: f.path, handle: f.handle, size: info.size, sha256: f.sha256, beforeEnd: f.beforeEnd }, Buffer.from(crlf));
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

interface FilePart {
  readonly path: string;
  readonly handle: FileHandle | undefined;
  readonly size: number;
  readonly sha256: string | undefined;
  readonly beforeEnd: (() => Promise<void>) | undefined;
}

/** Bytes of a file are read in chunks of this size. */
const chunkSize = 256 * 1024;

async function* generate(parts: readonly (Buffer | FilePart)[], onProgress?: (sent: number) => void): AsyncGenerator<Buffer> {
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
    // Positional reads: a handle given by the caller is read from its start on every attempt.
    const file = p.handle ?? (await open(p.path, 'r'));
    const hash = p.sha256 === undefined ? undefined : createHash('sha256');
    let read = 0;
    try {
      while (read < p.size) {
        const buf = Buffer.allocUnsafe(Math.min(chunkSize, p.size - read));
        const { bytesRead } = await file.read(buf, 0, buf.length, read);
        if (bytesRead === 0) break;
        read += bytesRead;
        const chunk = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
        hash?.update(chunk);
        // The last chunk waits for the checks below: a body that fails before its last file byte is surely unfinished.
        if (read < p.size) yield out(chunk);
        else {
          // A file that grew would send a body longer than declared if read to its end: say so instead.
          if ((await file.read(Buffer.alloc(1), 0, 1, read)).bytesRead > 0) read++;
          else await checkEnd(p, hash);
          if (read === p.size) yield out(chunk);
        }
      }
    } finally {
      if (!p.handle) await file.close();
    }
    if (read !== p.size) throw new LocalFileChangedError(`${p.path} changed size while it was being uploaded (${p.size} bytes expected, ${read < p.size ? read : 'more'} read).`);
    if (p.size === 0) await checkEnd(p, hash);
  }
}

/** The checks of a file part once all its bytes were read: its sha256, then the caller's own. */
async function checkEnd(p: FilePart, hash: Hash | undefined): Promise<void> {
  if (hash !== undefined && hash.digest('hex') !== p.sha256) {
    throw new LocalFileChangedError(`${p.path} changed after it was hashed: the bytes read for the upload are not the ones its name was made from.`);
  }
  try {
    await p.beforeEnd?.();
  } catch (e) {
    throw e instanceof LocalFileChangedError ? e : new LocalFileChangedError(e instanceof Error ? e.message : String(e), { cause: e });
  }
}

/** Per the HTML form encoding: quotes and line breaks in names are percent-escaped, so they cannot end the header. */
function quote(s: string): string {
  return s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
