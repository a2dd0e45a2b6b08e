import * as fs from 'node:fs';
import { PyError, pyTypeName } from './pyFormat';
import * as pypath from './pyPath';

/** The innermost traceback frames of the recorded "Saving image outside the output folder" error. */
const SAVE_PATH_FRAMES = [
  "  File \"/opt/ComfyUI/nodes.py\", line 1590, in save_images\n    full_output_folder, filename, counter, subfolder, filename_prefix = folder_paths.get_save_image_path(filename_prefix, self.output_dir, images[0].shape[1], images[0].shape[0])\n                                                                        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
  "  File \"/opt/ComfyUI/folder_paths.py\", line 397, in get_save_image_path\n    raise Exception(err)\n",
];

/** The extension → Content-Type table /view uses (Python's `mimetypes` plus the types ComfyUI registers). */
const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.svg': 'image/svg+xml',
  '.ico': 'image/vnd.microsoft.icon',
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.avi': 'video/x-msvideo',
  '.mkv': 'video/x-matroska',
  '.mpeg': 'video/mpeg',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/x-wav',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
  '.glb': 'model/gltf-binary',
  '.gltf': 'model/gltf+json',
  '.obj': 'model/obj',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.xhtml': 'application/xhtml+xml',
  '.js': 'application/javascript; charset=utf-8',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
};

/** `mimetypes.guess_type(name)[0]`, or undefined. */
export function guessMimeType(name: string): string | undefined {
  return MIME[pypath.splitext(name)[1].toLowerCase()];
}

/** `os.path.exists` (also true for directories; never throws). */
export function exists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** `os.path.isfile`. */
export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Where the simulated server keeps its files, with ComfyUI's `folder_paths` helpers over them. */
export class FolderPaths {
  /** Absolute, normalised directories (what `folder_paths.get_*_directory()` return). */
  readonly input: string;
  readonly output: string;
  readonly temp: string;

  constructor(root: string) {
    this.input = pypath.normpath(pypath.join(root, 'input'));
    this.output = pypath.normpath(pypath.join(root, 'output'));
    this.temp = pypath.normpath(pypath.join(root, 'temp'));
  }

  /** `folder_paths.get_directory_by_type`: undefined for anything but the three types. */
  directoryByType(type: string): string | undefined {
    return type === 'input' ? this.input : type === 'output' ? this.output : type === 'temp' ? this.temp : undefined;
  }

  /** `annotated_filepath`: `"x.png [output]"` → `["x.png", outputDir]`; no annotation → `[name, undefined]`. */
  annotatedFilepath(name: string): [string, string | undefined] {
    if (typeof name !== 'string') throw new PyError('AttributeError', `'${pyTypeName(name)}' object has no attribute 'endswith'`);
    if (name.endsWith('[output]')) return [name.slice(0, -9), this.output];
    if (name.endsWith('[input]')) return [name.slice(0, -8), this.input];
    if (name.endsWith('[temp]')) return [name.slice(0, -7), this.temp];
    return [name, undefined];
  }

  /** `get_annotated_filepath(name)` with the input directory as default. */
  annotatedPath(name: string): string {
    const [n, dir] = this.annotatedFilepath(name);
    return pypath.join(dir ?? this.input, n);
  }

  /** `exists_annotated_filepath`: note that, like ComfyUI, it does not stop `..`. */
  existsAnnotated(name: string): boolean {
    return exists(this.annotatedPath(name));
  }

  /**
   * `folder_paths.get_save_image_path`: resolves `%width%`-style variables, splits the prefix into
   * subfolder and name, refuses to leave `outputDir` (the recorded message) and finds the next counter.
   */
  saveImagePath(prefix: string, outputDir: string, width = 0, height = 0): { folder: string; filename: string; counter: number; subfolder: string } {
    let p = prefix;
    if (p.includes('%')) {
      const now = new Date();
      const two = (n: number) => String(n).padStart(2, '0');
      p = p
        .split('%width%')
        .join(String(width))
        .split('%height%')
        .join(String(height))
        .split('%year%')
        .join(String(now.getFullYear()))
        .split('%month%')
        .join(two(now.getMonth() + 1))
        .split('%day%')
        .join(two(now.getDate()))
        .split('%hour%')
        .join(two(now.getHours()))
        .split('%minute%')
        .join(two(now.getMinutes()))
        .split('%second%')
        .join(two(now.getSeconds()));
    }
    const subfolder = pypath.dirname(pypath.normpath(p));
    const filename = pypath.basename(pypath.normpath(p));
    const folder = pypath.join(outputDir, subfolder);
    const absFolder = pypath.abspath(folder);
    if (pypath.commonpath([outputDir, absFolder]) !== outputDir) {
      throw new PyError(
        'Exception',
        '**** ERROR: Saving image outside the output folder is not allowed.' +
          `\n full_output_folder: ${absFolder}` +
          `\n         output_dir: ${outputDir}` +
          `\n         commonpath: ${pypath.commonpath([outputDir, absFolder])}`,
        SAVE_PATH_FRAMES,
      );
    }
    let counter = 1;
    try {
      const prefixLen = pypath.basename(p).length;
      let best = 0;
      let found = false;
      for (const f of fs.readdirSync(folder)) {
        const head = f.slice(0, prefixLen + 1);
        if (head.slice(0, -1) !== filename || !head.endsWith('_')) continue;
        const digits = /^\d+$/.test(f.slice(prefixLen + 1).split('_')[0] ?? '') ? Number(f.slice(prefixLen + 1).split('_')[0]) : 0;
        if (!found || digits > best) best = digits;
        found = true;
      }
      counter = found ? best + 1 : 1;
    } catch {
      fs.mkdirSync(folder, { recursive: true });
    }
    return { folder, filename, counter, subfolder };
  }
}
