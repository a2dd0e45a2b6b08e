import * as fs from 'node:fs';
import * as path from 'node:path';

/** The start of each kind of file the input policy looks at, as real encoders write it. */
export const MEDIA_HEADS: Readonly<Record<string, Buffer>> = {
  png: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]),
  jpg: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]),
  gif: Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'),
  webp: Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('WEBPVP8 ')]),
  bmp: Buffer.concat([Buffer.from('BM'), Buffer.from([0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 40, 0, 0, 0])]),
  tif: Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0, 0, 0]),
  exr: Buffer.from([0x76, 0x2f, 0x31, 0x01, 0x02, 0, 0, 0]),
  avif: Buffer.concat([Buffer.from([0, 0, 0, 0x1c]), Buffer.from('ftypavif'), Buffer.from([0, 0, 0, 0])]),
  mp4: Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypisom'), Buffer.from([0, 0, 2, 0])]),
  mov: Buffer.concat([Buffer.from([0, 0, 0, 0x14]), Buffer.from('ftypqt  '), Buffer.from([0, 0, 2, 0])]),
  webm: Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01]),
  avi: Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('AVI LIST')]),
  wav: Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('WAVEfmt ')]),
  mp3: Buffer.from([0xff, 0xfb, 0x90, 0x64, 0x00]),
  flac: Buffer.from('fLaC\x00\x00\x00\x22', 'latin1'),
  ogg: Buffer.from('OggS\x00\x02\x00\x00', 'latin1'),
  m4a: Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypM4A '), Buffer.from([0, 0, 2, 0])]),
  aac: Buffer.from([0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc]),
  glb: Buffer.concat([Buffer.from('glTF'), Buffer.from([2, 0, 0, 0, 0x40, 0, 0, 0])]),
  gltf: Buffer.from('{\n  "asset": { "version": "2.0" },\n  "scenes": []\n}\n'),
  obj: Buffer.from('# Blender 4.1\nmtllib cube.mtl\no Cube\nv 1.0 1.0 -1.0\nv 1.0 -1.0 -1.0\nf 1 2 3\n'),
  ply: Buffer.from('ply\nformat ascii 1.0\nelement vertex 3\n'),
  fbx: Buffer.concat([Buffer.from('Kaydara FBX Binary  '), Buffer.from([0, 0x1a, 0, 0xe8, 0x1c, 0, 0])]),
  stl: Buffer.from('solid cube\n facet normal 0 0 1\n  outer loop\n'),
};

/** What `ssh-keygen -t ed25519` writes: the file a hostile workflow wants uploaded. */
export const PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n';

/** Writes a file (making its folders) and returns its path. */
export function writeFile(file: string, content: string | Buffer): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

/** A small file of the given kind: its signature, then some bytes. */
export function mediaFile(file: string, kind: keyof typeof MEDIA_HEADS): string {
  const head = MEDIA_HEADS[kind];
  return writeFile(file, Buffer.concat([head, Buffer.alloc(64, 0x20)]));
}
