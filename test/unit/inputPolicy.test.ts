import * as assert from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkInputSync, cliInputPolicy, editorInputPolicy } from '../../src/core/inputPolicy';
import { checkMediaContent, hasMediaExtension } from '../../src/core/mediaSignature';
import { isStrictlyInside } from '../../src/core/safePath';
import { MEDIA_HEADS, PRIVATE_KEY, mediaFile, writeFile } from './helpers/mediaSamples';
import { makeTempDir } from './helpers/workflowFixtures';

describe('input policy', () => {
  describe('media by extension and first bytes', () => {
    for (const [ext, head] of Object.entries(MEDIA_HEADS)) {
      it(`takes a .${ext} that starts like one`, () => {
        assert.ok(hasMediaExtension(`clip.${ext.toUpperCase()}`));
        const check = checkMediaContent(ext, head, head.length);
        assert.ok(check?.ok, JSON.stringify(check));
      });
    }

    it('refuses bytes of another kind, text, binary garbage and empty files, describing them without quoting them', () => {
      const found = (ext: string, bytes: Buffer) => {
        const c = checkMediaContent(ext, bytes, bytes.length);
        return c && !c.ok ? c.found : 'ok';
      };
      assert.strictEqual(found('png', MEDIA_HEADS.flac), 'those of a FLAC audio');
      assert.strictEqual(found('mp3', MEDIA_HEADS.png), 'those of a PNG image');
      assert.strictEqual(found('wav', MEDIA_HEADS.glb), 'those of a glTF binary (GLB) model');
      assert.strictEqual(found('glb', MEDIA_HEADS.mp4), 'those of an MP4/QuickTime media file');
      assert.strictEqual(found('png', Buffer.from(PRIVATE_KEY)), 'plain text');
      assert.strictEqual(found('gltf', MEDIA_HEADS.png), 'those of a PNG image');
      assert.strictEqual(found('gltf', Buffer.from('API_KEY=sk-123\n')), 'plain text');
      assert.strictEqual(found('obj', Buffer.from('password = hunter2\n')), 'plain text');
      assert.strictEqual(found('stl', Buffer.from([0, 1, 2, 3, 4, 5, 0xff, 0xfe])), 'not those of any 3D model format');
      assert.strictEqual(found('png', Buffer.alloc(0)), 'nothing (the file is empty)');
      // Any image signature passes for an image: PIL reads a JPEG named .png.
      assert.strictEqual(found('png', MEDIA_HEADS.jpg), 'ok');
      assert.strictEqual(checkMediaContent('txt', Buffer.from('x'), 1), undefined);
      assert.ok(!hasMediaExtension('id_ed25519') && !hasMediaExtension('.png') && !hasMediaExtension('notes.txt'));
    });
  });

  describe('allowed folders', () => {
    let tmp: ReturnType<typeof makeTempDir>;
    beforeEach(() => {
      tmp = makeTempDir();
    });
    afterEach(() => tmp.cleanup());

    it('compares real paths with path.relative, not by prefix: a sibling with a longer name is outside', () => {
      const ws = path.join(tmp.dir, 'work');
      const sibling = mediaFile(path.join(tmp.dir, 'work-old', 'a.png'), 'png');
      const inside = mediaFile(path.join(ws, 'sub', '..', 'a.png'), 'png');
      const policy = editorInputPolicy(path.join(ws, 'workflow_api.json'), ws);
      assert.strictEqual(checkInputSync(sibling, policy).allowed, false);
      assert.strictEqual(checkInputSync(path.join(ws, '..', 'work-old', 'a.png'), policy).allowed, false);
      assert.strictEqual(checkInputSync(path.join(ws, 'sub', '..', 'a.png'), policy).allowed, true, inside);
      assert.ok(!isStrictlyInside(ws, ws), 'the folder itself is not inside itself');
      assert.ok(isStrictlyInside(ws, path.join(ws, '..x.png')));
    });

    it('names every allowed folder of the CLI, and allows files below any of them', () => {
      const flow = path.join(tmp.dir, 'flow');
      const cwd = path.join(tmp.dir, 'cwd');
      const extra = path.join(tmp.dir, 'extra');
      const policy = cliInputPolicy(path.join(flow, 'wf.json'), cwd, [extra]);
      assert.deepStrictEqual(
        policy.roots.map((r) => r.label),
        [`the workflow's folder ${flow}`, `the current directory ${cwd}`, `${extra} (--allow-inputs-from)`],
      );
      for (const dir of [flow, cwd, extra]) assert.strictEqual(checkInputSync(mediaFile(path.join(dir, 'deep', 'a.webp'), 'webp'), policy).allowed, true, dir);
      const key = writeFile(path.join(tmp.dir, 'key.png'), PRIVATE_KEY);
      const v = checkInputSync(key, policy);
      assert.ok(!v.allowed && v.rule === 'outside_allowed_folders');
      assert.strictEqual(v.reason, `it is not inside the workflow's folder ${flow}, the current directory ${cwd} or ${extra} (--allow-inputs-from) (it leads to ${key})`);
      assert.strictEqual(cliInputPolicy(path.join(cwd, 'wf.json'), cwd, []).roots.length, 1, 'the same folder is named once');
    });

    it('follows symbolic links both ways: a link inside to a file outside is outside, a link outside to a file inside is inside', function () {
      const ws = path.join(tmp.dir, 'ws');
      const photo = mediaFile(path.join(ws, 'photo.png'), 'png');
      const key = writeFile(path.join(tmp.dir, 'key'), PRIVATE_KEY);
      try {
        fs.symlinkSync(key, path.join(ws, 'in.png'));
        fs.symlinkSync(ws, path.join(tmp.dir, 'ws-link'), 'dir');
      } catch {
        this.skip();
      }
      const policy = editorInputPolicy(path.join(ws, 'workflow_api.json'), ws);
      assert.strictEqual(checkInputSync(path.join(ws, 'in.png'), policy).allowed, false);
      assert.strictEqual(checkInputSync(path.join(tmp.dir, 'ws-link', 'photo.png'), policy).allowed, true, photo);
      const viaLinkedRoot = editorInputPolicy(path.join(tmp.dir, 'ws-link', 'workflow_api.json'), path.join(tmp.dir, 'ws-link'));
      assert.strictEqual(checkInputSync(photo, viaLinkedRoot).allowed, true, 'a workspace opened through a link still holds its files');
    });
  });
});
