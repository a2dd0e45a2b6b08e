/** The kinds of file a ComfyUI loader takes (LoadImage and LoadImageMask, video, audio and 3D loaders). */
export type MediaKind = 'image' | 'video' | 'audio' | '3D model';

/** What a file's name promises: its kind, and the format named in messages. */
interface Expected {
  readonly kind: MediaKind;
  readonly format: string;
  /** Text formats have no magic number: a check of the first bytes instead. */
  readonly text?: (head: string) => boolean;
}

/** `.obj`: comments, vertices, faces, groups, materials: what an exporter writes on its first line. */
const OBJ_LINE = /^(#|(v|vt|vn|vp|f|l|p|o|g|s|mtllib|usemtl)\s)/;

/**
 * The extensions (lower case, without the dot) of what ComfyUI's loaders take: PIL's images for
 * LoadImage, the containers of the video and audio loaders (core and Video Helper Suite), and the
 * model formats of Load3D.
 */
const EXTENSIONS: Readonly<Record<string, Expected>> = {
  png: { kind: 'image', format: 'PNG image' },
  jpg: { kind: 'image', format: 'JPEG image' },
  jpeg: { kind: 'image', format: 'JPEG image' },
  jfif: { kind: 'image', format: 'JPEG image' },
  webp: { kind: 'image', format: 'WebP image' },
  gif: { kind: 'image', format: 'GIF image' },
  bmp: { kind: 'image', format: 'BMP image' },
  tif: { kind: 'image', format: 'TIFF image' },
  tiff: { kind: 'image', format: 'TIFF image' },
  exr: { kind: 'image', format: 'OpenEXR image' },
  hdr: { kind: 'image', format: 'Radiance HDR image' },
  avif: { kind: 'image', format: 'AVIF image' },
  heic: { kind: 'image', format: 'HEIC image' },
  heif: { kind: 'image', format: 'HEIF image' },
  mp4: { kind: 'video', format: 'MP4 video' },
  m4v: { kind: 'video', format: 'MP4 video' },
  mov: { kind: 'video', format: 'QuickTime video' },
  mkv: { kind: 'video', format: 'Matroska video' },
  webm: { kind: 'video', format: 'WebM video' },
  avi: { kind: 'video', format: 'AVI video' },
  wav: { kind: 'audio', format: 'WAV audio' },
  mp3: { kind: 'audio', format: 'MP3 audio' },
  flac: { kind: 'audio', format: 'FLAC audio' },
  ogg: { kind: 'audio', format: 'Ogg audio' },
  oga: { kind: 'audio', format: 'Ogg audio' },
  opus: { kind: 'audio', format: 'Opus audio' },
  m4a: { kind: 'audio', format: 'M4A audio' },
  aac: { kind: 'audio', format: 'AAC audio' },
  aif: { kind: 'audio', format: 'AIFF audio' },
  aiff: { kind: 'audio', format: 'AIFF audio' },
  glb: { kind: '3D model', format: 'glTF binary (GLB) model' },
  gltf: { kind: '3D model', format: 'glTF model', text: (t) => t.trimStart().startsWith('{') },
  obj: { kind: '3D model', format: 'OBJ model', text: (t) => OBJ_LINE.test(firstLine(t)) },
  fbx: { kind: '3D model', format: 'FBX model', text: (t) => t.trimStart().startsWith('; FBX') },
  stl: { kind: '3D model', format: 'STL model', text: (t) => /^solid(\s|$)/.test(t.trimStart()) },
  ply: { kind: '3D model', format: 'PLY model' },
};

/** How many first bytes are read for the check: enough for every signature and a text format's first line. */
export const HEAD_BYTES = 1024;

/** The extension, lower case without the dot, of a file name or path; '' when it has none. */
export function extensionOf(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

/** True when a file named so may be a media file a ComfyUI loader takes (its extension says so). */
export function hasMediaExtension(name: string): boolean {
  return Object.hasOwn(EXTENSIONS, extensionOf(name));
}

/** A few of the extensions, for messages. */
export const MEDIA_EXTENSION_EXAMPLES = 'png, jpg, webp, mp4, webm, wav, mp3, flac, glb, obj';

/** The outcome of {@link checkMediaContent}. */
export type MediaCheck =
  | { readonly ok: true; readonly kind: MediaKind; readonly format: string }
  /** `found` completes "its first bytes are …" (or says the file is empty). */
  | { readonly ok: false; readonly expected: string; readonly found: string };

/**
 * Whether a file's first bytes fit what its extension promises: a magic number of the same kind
 * (a `.png` that holds a JPEG still loads in PIL, so any image signature passes for an image), or,
 * for text formats, a first line such a file starts with. `head` holds the first
 * {@link HEAD_BYTES} bytes (fewer for a shorter file), `size` the file's length.
 *
 * What was found is described by kind, never quoted: the bytes of a file that is not media may be
 * a secret (a key, a token), and messages end up in logs.
 */
export function checkMediaContent(extension: string, head: Uint8Array, size: number): MediaCheck | undefined {
  const expected = Object.hasOwn(EXTENSIONS, extension) ? EXTENSIONS[extension] : undefined;
  if (!expected) return undefined;
  const signature = detectSignature(head, size);
  if (signature?.kinds.includes(expected.kind)) return { ok: true, kind: expected.kind, format: signature.format };
  const text = asText(head);
  if (expected.text && text !== undefined && expected.text(text)) return { ok: true, kind: expected.kind, format: expected.format };
  let found: string;
  if (size === 0) found = 'nothing (the file is empty)';
  else if (signature) found = `those of ${withArticle(signature.format)}`;
  else if (text !== undefined) found = 'plain text';
  else found = `not those of any ${expected.kind} format`;
  return { ok: false, expected: expected.format, found };
}

interface Signature {
  readonly format: string;
  readonly kinds: readonly MediaKind[];
}

/** ISO base media (`ftyp`) brands of still images; every other brand is a video or audio file. */
const IMAGE_BRANDS = new Set(['avif', 'avis', 'heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
/** Top-level atoms an old QuickTime file may start with instead of `ftyp`. */
const QUICKTIME_ATOMS = new Set(['moov', 'mdat', 'wide', 'free', 'skip', 'pnot']);
/** Header sizes of the BMP info header versions. */
const BMP_HEADER_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

/** The binary format the first bytes announce, if any. */
function detectSignature(h: Uint8Array, size: number): Signature | undefined {
  const ascii = (offset: number, s: string) => {
    if (h.length < offset + s.length) return false;
    for (let i = 0; i < s.length; i++) if (h[offset + i] !== s.charCodeAt(i)) return false;
    return true;
  };
  const bytes = (...b: number[]) => h.length >= b.length && b.every((x, i) => h[i] === x);
  const u32le = (offset: number) => (h[offset] | (h[offset + 1] << 8) | (h[offset + 2] << 16)) + h[offset + 3] * 0x1000000;

  if (bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return { format: 'PNG image', kinds: ['image'] };
  if (bytes(0xff, 0xd8, 0xff)) return { format: 'JPEG image', kinds: ['image'] };
  // The video loaders take animated GIFs too.
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return { format: 'GIF image', kinds: ['image', 'video'] };
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return { format: 'WebP image', kinds: ['image'] };
  if (ascii(0, 'RIFF') && ascii(8, 'WAVE')) return { format: 'WAV audio', kinds: ['audio'] };
  if (ascii(0, 'RIFF') && ascii(8, 'AVI ')) return { format: 'AVI video', kinds: ['video'] };
  // "BM" alone is too weak: the reserved bytes must be zero and the info header a known size.
  if (ascii(0, 'BM') && h.length >= 18 && u32le(6) === 0 && BMP_HEADER_SIZES.has(u32le(14))) return { format: 'BMP image', kinds: ['image'] };
  if (bytes(0x49, 0x49, 0x2a, 0x00) || bytes(0x4d, 0x4d, 0x00, 0x2a) || bytes(0x49, 0x49, 0x2b, 0x00) || bytes(0x4d, 0x4d, 0x00, 0x2b)) return { format: 'TIFF image', kinds: ['image'] };
  if (bytes(0x76, 0x2f, 0x31, 0x01)) return { format: 'OpenEXR image', kinds: ['image'] };
  if (ascii(0, '#?RADIANCE') || ascii(0, '#?RGBE')) return { format: 'Radiance HDR image', kinds: ['image'] };
  if (ascii(4, 'ftyp') && h.length >= 12) {
    const brand = String.fromCharCode(h[8], h[9], h[10], h[11]).trim();
    if (IMAGE_BRANDS.has(brand)) return { format: `${brand.toUpperCase()} image`, kinds: ['image'] };
    return { format: 'MP4/QuickTime media file', kinds: ['video', 'audio'] };
  }
  if (h.length >= 8 && QUICKTIME_ATOMS.has(String.fromCharCode(h[4], h[5], h[6], h[7]))) return { format: 'QuickTime video', kinds: ['video'] };
  if (bytes(0x1a, 0x45, 0xdf, 0xa3)) return { format: 'Matroska/WebM media file', kinds: ['video', 'audio'] };
  if (ascii(0, 'OggS')) return { format: 'Ogg media file', kinds: ['audio', 'video'] };
  if (ascii(0, 'fLaC')) return { format: 'FLAC audio', kinds: ['audio'] };
  if (ascii(0, 'ID3')) return { format: 'MP3 or AAC audio (ID3-tagged)', kinds: ['audio'] };
  if (ascii(0, 'ADIF')) return { format: 'AAC audio', kinds: ['audio'] };
  if (ascii(0, 'FORM') && (ascii(8, 'AIFF') || ascii(8, 'AIFC'))) return { format: 'AIFF audio', kinds: ['audio'] };
  if (h.length >= 3 && h[0] === 0xff && (h[1] & 0xe0) === 0xe0) {
    const version = (h[1] >> 3) & 3;
    const layer = (h[1] >> 1) & 3;
    // ADTS (AAC) writes layer 0; an MPEG audio frame has a layer, a version that is not "reserved" and a valid bitrate index.
    if ((h[1] & 0xf6) === 0xf0) return { format: 'AAC audio', kinds: ['audio'] };
    if (layer !== 0 && version !== 1 && h[2] >> 4 !== 0xf) return { format: 'MP3 audio', kinds: ['audio'] };
  }
  if (ascii(0, 'glTF')) return { format: 'glTF binary (GLB) model', kinds: ['3D model'] };
  if (ascii(0, 'Kaydara FBX Binary')) return { format: 'FBX model', kinds: ['3D model'] };
  if (ascii(0, 'ply\n') || ascii(0, 'ply\r\n')) return { format: 'PLY model', kinds: ['3D model'] };
  // A binary STL has no magic number, but its length is exact: an 80-byte header, a count, 50 bytes per triangle.
  if (h.length >= 84 && size === 84 + 50 * u32le(80)) return { format: 'STL model', kinds: ['3D model'] };
  return undefined;
}

/** The bytes as text when they are UTF-8 without control characters (tabs and line breaks allowed); a character cut at the end is fine. */
function asText(h: Uint8Array): string | undefined {
  if (h.length === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(h, { stream: true });
  } catch {
    return undefined;
  }
  // eslint-disable-next-line no-control-regex -- control characters are what tells binary from text
  if (/[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(text)) return undefined;
  return text.replace(/^\uFEFF/, '');
}

function firstLine(text: string): string {
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t) return t;
  }
  return '';
}

/** `a PNG image`, `an MP3 audio`: the article goes by sound. */
export function withArticle(format: string): string {
  return /^([AEIOU]|MP|M4|STL|FBX)/.test(format) ? `an ${format}` : `a ${format}`;
}
