import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { type FolderPaths, guessMimeType, isFile } from './folderPaths';
import { lingerThenClose, RequestTooLarge, sendEmpty, sendInternalError, sendJson, sendText } from './httpReplies';
import { encodeWebp } from './mediaEncoders';
import { MultipartError, MultipartParser, multipartBoundary } from './multipartParser';
import { decodePng, encodePng } from '../../base/png';
import { encodeJpeg } from '../../base/jpegEncoder';
import { PyError, pyStr } from './pyFormat';
import { parsePyJson } from './pyJson';
import * as pypath from './pyPath';

/**
 * `GET /view` and `POST /upload/image|mask` as ComfyUI serves them, streaming both ways: /view pipes
 * a file stream (Range and HEAD included) and uploads go from the socket to a staging file, so
 * neither ever holds a whole file in memory.
 */

const FORCED_DOWNLOAD = new Set(['text/html', 'text/html-sandboxed', 'application/xhtml+xml', 'text/javascript', 'text/css']);

/**
 * A header value as aiohttp would send it (UTF-8 bytes). Node refuses control characters in headers;
 * aiohttp refuses CR/LF (→ 500) but sends the others raw, so those become `?` here.
 */
function headerValue(value: string): string | undefined {
  if (/[\r\n]/.test(value)) return undefined;
  let out = '';
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    out += (c < 0x20 && c !== 0x09) || c === 0x7f ? '?' : ch;
  }
  return Buffer.from(out, 'utf8').toString('latin1');
}

function httpDate(d: Date): string {
  return d.toUTCString();
}

/** Serves a file like aiohttp's `FileResponse`: ETag/Last-Modified, conditional 304, one byte range (206/416), HEAD. */
async function fileResponse(req: http.IncomingMessage, res: http.ServerResponse, file: string, headers: Record<string, string>): Promise<void> {
  const st = await fs.promises.stat(file, { bigint: true });
  const size = Number(st.size);
  const etag = `"${st.mtimeNs.toString(16)}-${size.toString(16)}"`;
  const mtime = new Date(Number(st.mtimeMs));
  const base: Record<string, string | number> = { ...headers, ETag: etag, 'Last-Modified': httpDate(mtime), 'Accept-Ranges': 'bytes' };
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  if ((inm?.split(',').some((t) => t.trim() === etag || t.trim() === '*') ?? false) || (inm === undefined && ims !== undefined && Date.parse(ims) >= Math.floor(mtime.getTime() / 1000) * 1000)) {
    res.writeHead(304, base);
    res.end();
    return;
  }
  let start = 0;
  let count = size;
  let status = 200;
  const range = req.headers.range;
  const ifRange = typeof req.headers['if-range'] === 'string' ? req.headers['if-range'] : undefined;
  if (range !== undefined && (ifRange === undefined || ifRange === etag || Date.parse(ifRange) >= Math.floor(mtime.getTime() / 1000) * 1000)) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    const unsatisfiable = () => {
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      res.end();
    };
    if (!m || (m[1] === '' && m[2] === '')) {
      unsatisfiable();
      return;
    }
    if (m[1] === '') {
      start = Math.max(0, size - Number(m[2]));
      count = size - start;
    } else {
      start = Number(m[1]);
      const end = m[2] === '' ? size : Number(m[2]) + 1;
      if (m[2] !== '' && end <= start) {
        unsatisfiable();
        return;
      }
      count = Math.min(end, size) - start;
    }
    if (start >= size) {
      unsatisfiable();
      return;
    }
    status = 206;
    base['Content-Range'] = `bytes ${start}-${start + count - 1}/${size}`;
  }
  res.writeHead(status, { ...base, 'Content-Length': count });
  if (req.method === 'HEAD' || count === 0) {
    res.end();
    return;
  }
  // A client that stops reading mid-file is normal for a download: end quietly.
  await pipeline(fs.createReadStream(file, { start, end: start + count - 1 }), res).catch(() => res.destroy());
}

/** `GET /view`. */
export async function serveView(req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams, folders: FolderPaths): Promise<void> {
  const requested = query.get('filename');
  if (requested === null) return sendEmpty(res, 404);
  const annotated = folders.annotatedFilepath(requested);
  let name = annotated[0];
  let dir = annotated[1];
  if (!name) return sendEmpty(res, 400);
  if (name.startsWith('/') || name.includes('..')) return sendEmpty(res, 400);
  if (dir === undefined) dir = folders.directoryByType(query.get('type') ?? 'output');
  if (dir === undefined) return sendEmpty(res, 400);
  const subfolder = query.get('subfolder');
  if (subfolder !== null) {
    const full = pypath.join(dir, subfolder);
    if (pypath.commonpath([pypath.abspath(full), dir]) !== dir) return sendEmpty(res, 403);
    dir = full;
  }
  name = pypath.basename(name);
  const file = pypath.join(dir, name);
  if (!isFile(file)) return sendEmpty(res, 404);
  const disposition = headerValue(`filename="${name}"`);
  if (disposition === undefined) return sendInternalError(res);

  const preview = query.get('preview');
  const channel = query.get('channel') ?? 'rgba';
  if (preview !== null || channel === 'rgb' || channel === 'a') {
    // Pillow would open more formats; the simulator decodes PNG only, and answers like a failing Pillow otherwise.
    let png;
    try {
      png = decodePng(await fs.promises.readFile(file));
    } catch {
      return sendInternalError(res);
    }
    const { width, height } = png;
    const rgba = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      const s = i * png.channels;
      const grey = png.channels <= 2;
      rgba[i * 4] = png.pixels[s]!;
      rgba[i * 4 + 1] = grey ? png.pixels[s] : png.pixels[s + 1];
      rgba[i * 4 + 2] = grey ? png.pixels[s] : png.pixels[s + 2];
      rgba[i * 4 + 3] = png.channels === 2 || png.channels === 4 ? png.pixels[s + png.channels - 1] : 255;
    }
    const hasAlpha = png.channels === 2 || png.channels === 4;
    let body: Buffer;
    let type: string;
    if (preview !== null) {
      const info = preview.split(';');
      let format = info[0] ?? '';
      const rawChannel = query.get('channel') ?? '';
      if ((format !== 'webp' && format !== 'jpeg') || rawChannel.includes('a')) format = 'webp';
      const last = info[info.length - 1] ?? '';
      const quality = /^\d+$/.test(last) ? Number(last) : 90;
      if (format === 'jpeg' || rawChannel === 'rgb') for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
      body = format === 'jpeg' ? encodeJpeg(width, height, rgba, quality) : encodeWebp({ width, height, frames: [rgba] }, 0);
      type = `image/${format}`;
    } else if (channel === 'rgb') {
      body = await encodePng({ width, height, channels: 3, row: (y) => Buffer.from(Array.from({ length: width * 3 }, (_, k) => rgba[(y * width + Math.floor(k / 3)) * 4 + (k % 3)])) }, { compressLevel: 6 });
      type = 'image/png';
    } else {
      body = await encodePng({ width, height, channels: 4, row: (y) => Buffer.from(Array.from({ length: width * 4 }, (_, k) => (k % 4 === 3 ? (hasAlpha ? rgba[(y * width + Math.floor(k / 4)) * 4 + 3] : 255) : 0))) }, { compressLevel: 6 });
      type = 'image/png';
    }
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length, 'Content-Disposition': disposition });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }

  let contentType = guessMimeType(name) ?? 'application/octet-stream';
  if (FORCED_DOWNLOAD.has(contentType.split(';')[0])) contentType = 'application/octet-stream';
  await fileResponse(req, res, file, { 'Content-Disposition': disposition, 'Content-Type': contentType });
}

/** A file part of the upload, already on disk in the staging folder. */
interface StagedFile {
  filename: string;
  path: string;
  sha256: string;
}

/** Where uploads wait while their body arrives, and the lock that keeps naming atomic. */
export class UploadStaging {
  private lock: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {}

  /** Runs `fn` after every earlier caller's `fn`: ComfyUI picks names without awaiting, so no two uploads interleave. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** Streams a multipart body: file parts to staging files, text parts into strings; enforces `client_max_size`. */
async function readForm(req: http.IncomingMessage, maxSize: number, staging: UploadStaging): Promise<{ fields: Map<string, string | StagedFile>; staged: StagedFile[] }> {
  const fields = new Map<string, string | StagedFile>();
  const staged: StagedFile[] = [];
  const boundary = multipartBoundary(req.headers['content-type']);
  if (!boundary) {
    for await (const chunk of req) void chunk;
    return { fields, staged };
  }
  await fs.promises.mkdir(staging.dir, { recursive: true });
  let size = 0;
  let current: { name: string; file?: { out: fs.WriteStream; hash: ReturnType<typeof createHash>; staged: StagedFile }; text?: Buffer[] } | undefined;
  const parser = new MultipartParser(boundary, {
    begin: (part) => {
      if (part.filename !== undefined && part.filename !== '') {
        const path = pypath.join(staging.dir, randomUUID());
        const stagedFile: StagedFile = { filename: part.filename, path, sha256: '' };
        staged.push(stagedFile);
        const out = fs.createWriteStream(path);
        // Errors surface through the awaited writes below; a stream destroyed on a 413 may still report one.
        out.on('error', () => {});
        current = { name: part.name, file: { out, hash: createHash('sha256'), staged: stagedFile } };
      } else {
        current = { name: part.name, text: [] };
      }
    },
    data: async (chunk) => {
      size += chunk.length;
      if (maxSize > 0 && size > maxSize) throw new RequestTooLarge(maxSize, size);
      if (current?.file) {
        const { out, hash } = current.file;
        hash.update(chunk);
        if (!out.write(chunk)) {
          await new Promise<void>((resolve, reject) => {
            const done = (err?: Error) => {
              out.off('drain', done);
              out.off('error', done);
              if (err) reject(err);
              else resolve();
            };
            out.once('drain', done);
            out.once('error', done);
          });
        }
      } else {
        current?.text?.push(chunk);
      }
    },
    end: async () => {
      const part = current!;
      current = undefined;
      if (part.file) {
        await new Promise<void>((resolve, reject) => part.file!.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
        part.file.staged.sha256 = part.file.hash.digest('hex');
        if (!fields.has(part.name)) fields.set(part.name, part.file.staged);
      } else if (!fields.has(part.name)) {
        fields.set(part.name, Buffer.concat(part.text ?? []).toString('utf8'));
      }
    },
  });
  try {
    // An early exit (413, malformed body) must leave the request open for the reply.
    for await (const chunk of req.iterator({ destroyOnReturn: false })) await parser.write(chunk as Buffer);
    parser.finish();
  } catch (e) {
    current?.file?.out.destroy();
    await Promise.all(staged.map((s) => fs.promises.rm(s.path, { force: true })));
    throw e;
  }
  return { fields, staged };
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `POST /upload/image` (and `/upload/mask` with `mask`): the name rules, hash dedupe and folder checks of ComfyUI. */
export async function handleUpload(req: http.IncomingMessage, res: http.ServerResponse, folders: FolderPaths, maxSize: number, staging: UploadStaging, mask: boolean): Promise<void> {
  let form: Awaited<ReturnType<typeof readForm>>;
  try {
    form = await readForm(req, maxSize, staging);
  } catch (e) {
    if (e instanceof RequestTooLarge) {
      lingerThenClose(req, res);
      return sendText(res, 413, e.message);
    }
    if (e instanceof MultipartError) return sendInternalError(res);
    // The client dropped the request before its body ended (aiohttp logs the disconnect and saves nothing).
    if (req.destroyed && (e as NodeJS.ErrnoException).code === 'ECONNRESET') return;
    throw e;
  }
  const { fields, staged } = form;
  try {
    await staging.exclusive(async () => {
      const image = fields.get('image');
      const overwrite = fields.get('overwrite');
      const typeField = fields.get('type');
      const uploadType = typeField === undefined ? 'input' : typeField;
      // ComfyUI leaves its directory variable unbound for any other type: an UnboundLocalError, i.e. a 500.
      const uploadDir = typeof uploadType === 'string' ? folders.directoryByType(uploadType) : undefined;
      if (uploadDir === undefined) throw new PyError('UnboundLocalError', "cannot access local variable 'type_dir' where it is not associated with a value");
      if (typeof image === 'string') throw new PyError('AttributeError', "'str' object has no attribute 'file'");
      if (image === undefined) return sendEmpty(res, 400);
      let filename = image.filename;
      const subfolderField = fields.get('subfolder') ?? '';
      if (typeof subfolderField !== 'string') throw new PyError('TypeError', 'expected str, bytes or os.PathLike object, not FileField');
      const folder = pypath.join(uploadDir, pypath.normpath(subfolderField));
      let filepath = pypath.abspath(pypath.join(folder, filename));
      if (pypath.commonpath([uploadDir, filepath]) !== uploadDir) return sendEmpty(res, 400);
      await fs.promises.mkdir(folder, { recursive: true });
      const [stem, ext] = pypath.splitext(filename);
      let duplicate = false;
      if (overwrite !== 'true' && overwrite !== '1') {
        for (let i = 1; fs.existsSync(filepath); i++) {
          if (isFile(filepath) && (await sha256Of(filepath)) === image.sha256) {
            duplicate = true;
            break;
          }
          filename = `${stem} (${i})${ext}`;
          filepath = pypath.join(folder, filename);
        }
      }
      if (!duplicate) {
        if (mask) await saveMask(fields.get('original_ref'), image, filepath, folders);
        else await fs.promises.rename(image.path, filepath);
      }
      sendJson(res, { name: filename, subfolder: subfolderField, type: uploadType as string });
    });
  } finally {
    await Promise.all(staged.map((s) => fs.promises.rm(s.path, { force: true })));
  }
}

/** `/upload/mask`'s save function: the uploaded image's alpha onto the referenced original (silently nothing when it is not found). */
async function saveMask(originalRef: string | StagedFile | undefined, image: StagedFile, filepath: string, folders: FolderPaths): Promise<void> {
  if (typeof originalRef !== 'string') throw new PyError('TypeError', 'the JSON object must be str, bytes or bytearray, not NoneType');
  const ref = parsePyJson(originalRef);
  if (!(ref instanceof Map)) throw new PyError('TypeError', 'original_ref is not an object');
  const refName = ref.get('filename');
  if (typeof refName !== 'string') throw new PyError('KeyError', "'filename'");
  const [name, annotatedDir] = folders.annotatedFilepath(refName);
  if (!name || name.startsWith('/') || name.includes('..')) return;
  let dir = annotatedDir ?? folders.directoryByType(pyStr(ref.get('type') ?? 'output'));
  if (dir === undefined) return;
  const sub = ref.get('subfolder') ?? '';
  if (sub !== '') {
    const full = pypath.join(dir, pyStr(sub));
    if (pypath.commonpath([pypath.abspath(full), dir]) !== dir) return;
    dir = full;
  }
  const file = pypath.join(dir, name);
  if (!isFile(file)) return;
  const original = decodePng(await fs.promises.readFile(file));
  const maskPng = decodePng(await fs.promises.readFile(image.path));
  if (original.width !== maskPng.width || original.height !== maskPng.height) throw new PyError('ValueError', 'images do not match');
  const px = (p: typeof original, i: number, c: number) => (p.channels <= 2 ? p.pixels[i * p.channels] : p.pixels[i * p.channels + c]);
  const alpha = (p: typeof original, i: number) => (p.channels === 2 || p.channels === 4 ? p.pixels[i * p.channels + p.channels - 1] : 255);
  const { width, height } = original;
  const out = await encodePng(
    {
      width,
      height,
      channels: 4,
      row: (y) => {
        const row = Buffer.alloc(width * 4);
        for (let x = 0; x < width; x++) {
          const i = y * width + x;
          row[x * 4] = px(original, i, 0);
          row[x * 4 + 1] = px(original, i, 1);
          row[x * 4 + 2] = px(original, i, 2);
          row[x * 4 + 3] = alpha(maskPng, i);
        }
        return row;
      },
    },
    { compressLevel: 4, text: original.text },
  );
  await fs.promises.writeFile(filepath, out);
}
