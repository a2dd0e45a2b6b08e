import * as assert from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { type HistoryEntry } from '../../src/api/comfyTypes';
import { formatRunTime, hashPrompt, listOutputFiles, OutputSaver, type RunRecord } from '../../src/core/outputSaver';
import { MAX_NAME_BYTES, resolveInside, safeRelativePath, safeSegment } from '../../src/core/safePath';
import { makeTempDir, readRecording, readRecordingJson } from './helpers/workflowFixtures';
import { eventually } from './helpers/runcomfyTestKit';

interface RecordedHistory {
  body: Record<string, HistoryEntry>;
}

function recordedEntry(file: string): HistoryEntry {
  const body = readRecordingJson<RecordedHistory>(file).body;
  return Object.values(body)[0];
}

/**
 * Outputs of nodes the recordings do not cover, shaped as their sources write them: core
 * SaveAnimatedWEBP / SaveVideo (`images` + `animated: [true]`), SaveAudio (`audio`), SaveGLB (`3d`),
 * SaveLatent (`latents`), Preview3D (`model_file`: plain strings), VideoHelperSuite's
 * VHS_VideoCombine (`gifs` with `format`, `frame_rate`, `workflow`, `fullpath`), PreviewAny (`text`).
 */
function mixedEntry(): HistoryEntry {
  const entry = recordedEntry('history_run_a.json');
  entry.outputs = {
    '9': { images: [{ filename: 'ComfyUI_00001_.webp', subfolder: '', type: 'output' }], animated: [true] },
    '12': { images: [{ filename: 'clip_00001_.mp4', subfolder: 'video', type: 'output' }], animated: [true] },
    '15': { audio: [{ filename: 'ComfyUI_00001_.flac', subfolder: 'audio', type: 'output' }] },
    '20': { '3d': [{ filename: 'mesh_00001_.glb', subfolder: 'mesh', type: 'output' }] },
    '21': { model_file: ['mesh/mesh_00001_.glb'] },
    '22': { latents: [{ filename: 'latent_00001_.latent', subfolder: 'latents', type: 'output' }] },
    '90': {
      gifs: [
        {
          filename: 'AnimateDiff_00001.mp4',
          subfolder: '',
          type: 'temp',
          format: 'video/h264-mp4',
          frame_rate: 8,
          workflow: 'AnimateDiff_00001.png',
          fullpath: '/ComfyUI/temp/AnimateDiff_00001.mp4',
        },
      ],
    },
    '30': { text: ['128'], images: [{ filename: 'no_type.png' }, null, 'x.png', { filename: 7 }] },
  };
  return entry;
}

/** Yields `count` chunks of `size` bytes, each filled with its index, and can pause before a given chunk. */
async function* chunks(count: number, size: number, pauseBefore?: { index: number; until: Promise<void> }): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    if (i === pauseBefore?.index) await pauseBefore.until;
    yield Buffer.alloc(size, i % 256);
  }
}

function bytesOf(text: string): AsyncIterable<Uint8Array> {
  return Readable.from([Buffer.from(text)]);
}

/** Every file and folder under `dir`, as `/`-separated relative paths. */
function walk(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })).map((p) => p.split(path.sep).join('/')).sort();
}

describe('listOutputFiles', () => {
  it('finds the recorded images, with their own types, and skips text', () => {
    const files = listOutputFiles(recordedEntry('history_run_a.json').outputs);
    assert.deepStrictEqual(files, [
      { nodeId: '3', key: 'images', filename: 'ComfyUI_temp_gyvgp_00001_.png', subfolder: '', type: 'temp' },
      { nodeId: '3', key: 'images', filename: 'ComfyUI_temp_gyvgp_00002_.png', subfolder: '', type: 'temp' },
      { nodeId: '4', key: 'images', filename: 'api_test_00001_.png', subfolder: 'research', type: 'output' },
      { nodeId: '4', key: 'images', filename: 'api_test_00002_.png', subfolder: 'research', type: 'output' },
    ]);
  });

  it('handles every recorded history entry, including failed and interrupted runs', () => {
    const expected: Record<string, number> = {
      'history_run_a.json': 4,
      'history_run_a_cached.json': 4,
      'history_run_b.json': 2,
      'history_runtime_error.json': 0,
      'history_interrupted.json': 0,
      'old-2024-12/history_first.json': 4,
      'old-2024-12/history_second_identical.json': 4,
    };
    for (const [file, count] of Object.entries(expected)) {
      // The 2024 captures hold the bare GET /history/{id} body; the others wrap it with the status.
      const json = readRecordingJson<RecordedHistory | Record<string, HistoryEntry>>(file);
      const body = 'body' in json ? (json as RecordedHistory).body : (json);
      const entry = Object.values(body)[0];
      const files = listOutputFiles(entry.outputs);
      assert.strictEqual(files.length, count, file);
      for (const f of files) assert.ok(f.filename.endsWith('.png') && ['output', 'temp'].includes(f.type), JSON.stringify(f));
    }
  });

  it('finds every kind: animated images, video, audio, 3d, latents, VideoHelperSuite gifs with format', () => {
    const files = listOutputFiles(mixedEntry().outputs);
    assert.deepStrictEqual(files, [
      { nodeId: '9', key: 'images', filename: 'ComfyUI_00001_.webp', subfolder: '', type: 'output', animated: true },
      { nodeId: '12', key: 'images', filename: 'clip_00001_.mp4', subfolder: 'video', type: 'output', animated: true },
      { nodeId: '15', key: 'audio', filename: 'ComfyUI_00001_.flac', subfolder: 'audio', type: 'output' },
      { nodeId: '20', key: '3d', filename: 'mesh_00001_.glb', subfolder: 'mesh', type: 'output' },
      { nodeId: '22', key: 'latents', filename: 'latent_00001_.latent', subfolder: 'latents', type: 'output' },
      { nodeId: '30', key: 'images', filename: 'no_type.png', subfolder: '', type: 'output' },
      { nodeId: '90', key: 'gifs', filename: 'AnimateDiff_00001.mp4', subfolder: '', type: 'temp', format: 'video/h264-mp4' },
    ]);
  });

  it('returns nothing for missing or malformed outputs', () => {
    assert.deepStrictEqual(listOutputFiles(undefined), []);
    assert.deepStrictEqual(listOutputFiles(null), []);
    assert.deepStrictEqual(listOutputFiles({ '1': null, '2': 'x', '3': { images: 'x' } } as unknown as HistoryEntry['outputs']), []);
  });
});

describe('safePath', () => {
  const hostile: [string, string][] = [
    ['../../x.png', '.._.._x.png'],
    ['/etc/passwd', '_etc_passwd'],
    ['C:\\x', 'C__x'],
    ['..\\..\\x', '.._.._x'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['Com1.tar.gz', '_Com1.tar.gz'],
    ['lpt9', '_lpt9'],
    ['a\u0000b.png', 'a_b.png'],
    ['bell\u0007\u009b.png', 'bell__.png'],
    ['evil\u202Egnp.exe', 'evil_gnp.exe'],
    ['.', '_'],
    ['..', '_'],
    ['', '_'],
    ['name. . ', 'name'],
    ['...', '_'],
    ['what?<is>|this*".png', 'what__is__this__.png'],
  ];
  for (const [raw, safe] of hostile) {
    it(`makes ${JSON.stringify(raw)} the single name ${JSON.stringify(safe)}, saying why`, () => {
      const r = safeSegment(raw);
      assert.strictEqual(r.name, safe);
      assert.ok(r.reasons.length > 0, 'a reason is given');
    });
  }

  it('leaves ordinary names alone, including spaces, dots inside and non-ASCII', () => {
    for (const name of ['ComfyUI_00001_.png', 'my image é.png', 'a.b.c', 'CONFIG.txt', 'nullable', '.hidden', '日本語.webp']) {
      assert.deepStrictEqual(safeSegment(name), { name, reasons: [] });
    }
  });

  it('shortens over-long names to the byte limit, keeping the extension and whole characters', () => {
    const long = safeSegment(`${'a'.repeat(300)}.png`);
    assert.strictEqual(long.name, `${'a'.repeat(MAX_NAME_BYTES - 4)}.png`);
    const wide = safeSegment(`${'é'.repeat(150)}.png`);
    assert.ok(Buffer.byteLength(wide.name) <= MAX_NAME_BYTES);
    assert.ok(wide.name.endsWith('é.png'), 'no half character');
    const trailing = safeSegment(`${'b'.repeat(195)}    .   ${'c'.repeat(100)}`);
    assert.ok(!/[. ]$/.test(trailing.name), 'no trailing dot or space after shortening');
  });

  it('keeps safe subfolders as nested folders and neutralises the rest', () => {
    assert.deepStrictEqual(safeRelativePath('research/sub', 'x.png'), { segments: ['research', 'sub', 'x.png'], reasons: [] });
    assert.deepStrictEqual(safeRelativePath('', 'x.png'), { segments: ['x.png'], reasons: [] });
    assert.deepStrictEqual(safeRelativePath('a//./b/', 'x.png').segments, ['a', 'b', 'x.png']);
    assert.deepStrictEqual(safeRelativePath('../../etc', 'passwd').segments, ['_', '_', 'etc', 'passwd']);
    assert.deepStrictEqual(safeRelativePath('/abs/dir', 'x').segments, ['abs', 'dir', 'x']);
    assert.deepStrictEqual(safeRelativePath('C:\\Windows\\System32', 'x').segments, ['C_', 'Windows', 'System32', 'x']);
    assert.deepStrictEqual(safeRelativePath('a/../../b', 'x').segments, ['a', '_', '_', 'b', 'x']);
    assert.ok(safeRelativePath('/abs/dir', 'x').reasons.some((r) => r.includes('absolute')));
  });

  it('resolveInside refuses anything that is not strictly inside', () => {
    assert.strictEqual(resolveInside('/r', ['a', 'b']), path.resolve('/r/a/b'));
    for (const bad of [['..'], ['a', '..', '..'], [], ['/etc'], ['.']]) {
      assert.throws(() => resolveInside('/r', bad), /Refusing to write/, JSON.stringify(bad));
    }
  });
});

describe('OutputSaver', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  const time = Date.UTC(2026, 10, 28, 10, 10, 12);
  const savedTz = process.env.TZ;
  beforeEach(() => {
    tmp = makeTempDir();
    process.env.TZ = 'Asia/Kolkata';
  });
  afterEach(() => {
    tmp.cleanup();
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  function create(promptId = '420a8392-61a4-417a-be6a-f487b193f1f6', workflowName = 'workflow_api'): Promise<OutputSaver> {
    return OutputSaver.create({ root: path.join(tmp.dir, 'runcomfy-outputs'), workflowName, promptId, time });
  }

  it('names the run folder <root>/<workflow>/<local time>-<prompt id prefix>', async () => {
    assert.strictEqual(formatRunTime(time), '20261128-154012', 'Kolkata is UTC+5:30');
    const saver = await create();
    assert.strictEqual(saver.dir, path.join(tmp.dir, 'runcomfy-outputs', 'workflow_api', '20261128-154012-420a8392'));
    assert.ok(fs.statSync(saver.dir).isDirectory());
    assert.deepStrictEqual(saver.warnings, []);
  });

  it('keeps hostile workflow names and prompt ids inside the root, with warnings', async () => {
    const saver = await create('../../../etc', '..');
    assert.strictEqual(path.relative(tmp.dir, saver.dir), path.join('runcomfy-outputs', '_', '20261128-154012-.._.._'));
    assert.strictEqual(saver.warnings.length, 2);
  });

  it('never writes outside the run folder, whatever the server names a file', async () => {
    const saver = await create();
    const cases: [string, string][] = [
      ['', '../../x.png'],
      ['', '/etc/passwd'],
      ['', 'C:\\x'],
      ['', '..\\..\\x'],
      ['', 'CON'],
      ['', 'nul.txt'],
      ['', 'a\u0000b.png'],
      ['', 'n'.repeat(300)],
      ['', '.'],
      ['', '..'],
      ['', ''],
      ['../..', 'up.png'],
      ['/tmp', 'abs.png'],
      ['C:\\Windows', 'drive.png'],
      ['..\\..\\evil', 'back.png'],
      ['a/../../b', 'mixed.png'],
      ['CON/AUX', 'dev.png'],
    ];
    const before = walk(tmp.dir);
    for (const [subfolder, filename] of cases) {
      const content = `${subfolder}|${filename}`;
      const saved = await saver.saveStream({ filename, subfolder, nodeId: '9' }, bytesOf(content));
      const rel = path.relative(saver.dir, saved.path);
      assert.ok(rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel), `${JSON.stringify(content)} → ${saved.path}`);
      assert.strictEqual(fs.readFileSync(saved.path, 'utf8'), content);
      assert.strictEqual(saved.relativePath, rel.split(path.sep).join('/'));
      assert.strictEqual(saved.bytes, Buffer.byteLength(content));
      assert.ok(saved.warnings.length > 0 && saved.warnings[0].includes('was saved as'), `a warning for ${JSON.stringify(content)}`);
      for (const seg of rel.split(path.sep)) assert.ok(Buffer.byteLength(seg) <= MAX_NAME_BYTES + 8, seg);
    }
    // The real file system: the only new things are the run folder's parents and what is inside it.
    const runRel = path.relative(tmp.dir, saver.dir).split(path.sep).join('/');
    const added = walk(tmp.dir).filter((p) => !before.includes(p));
    const outside = added.filter((p) => !p.startsWith(`${runRel}/`) && !runRel.startsWith(p));
    assert.deepStrictEqual(outside, []);
    assert.strictEqual(added.filter((p) => p.startsWith(`${runRel}/`) && fs.statSync(path.join(tmp.dir, p)).isFile()).length, cases.length);
    assert.ok(!added.some((p) => p.endsWith('.part')), 'no temp files left');
  });

  it('saves ordinary names as sent, keeping the subfolder, without warnings', async () => {
    const saver = await create();
    const saved = await saver.saveStream({ filename: 'api_test_00001_.png', subfolder: 'research', type: 'output', nodeId: '4' }, bytesOf('png'));
    assert.strictEqual(saved.path, path.join(saver.dir, 'research', 'api_test_00001_.png'));
    assert.strictEqual(saved.relativePath, 'research/api_test_00001_.png');
    assert.deepStrictEqual(saved.warnings, []);
    assert.deepStrictEqual(saver.warnings, []);
  });

  it('never overwrites: a second file of the same name becomes "name (1).ext", and run.json stays reserved', async () => {
    const saver = await create();
    fs.writeFileSync(path.join(saver.dir, 'keep.png'), 'mine');
    const a = await saver.saveStream({ filename: 'keep.png' }, bytesOf('server 1'));
    const b = await saver.saveStream({ filename: 'keep.png' }, bytesOf('server 2'));
    const c = await saver.saveStream({ filename: 'noext' }, bytesOf('1'));
    const d = await saver.saveStream({ filename: 'noext' }, bytesOf('2'));
    const r = await saver.saveStream({ filename: 'RUN.json' }, bytesOf('{}'));
    const nested = await saver.saveStream({ filename: 'run.json', subfolder: 'sub' }, bytesOf('{}'));
    assert.deepStrictEqual(
      [a, b, c, d, r, nested].map((s) => s.relativePath),
      ['keep (1).png', 'keep (2).png', 'noext', 'noext (1)', 'RUN (1).json', 'sub/run.json'],
    );
    assert.strictEqual(fs.readFileSync(path.join(saver.dir, 'keep.png'), 'utf8'), 'mine');
    assert.strictEqual(fs.readFileSync(a.path, 'utf8'), 'server 1');
    assert.strictEqual(fs.readFileSync(b.path, 'utf8'), 'server 2');
    assert.match(a.warnings.join(), /because "keep\.png" was already taken/);
  });

  it('takes distinct names when many saves of one name race', async () => {
    const saver = await create();
    const saved = await Promise.all(Array.from({ length: 12 }, (_, i) => saver.saveStream({ filename: 'same.png' }, bytesOf(String(i)))));
    const names = new Set(saved.map((s) => s.relativePath));
    assert.strictEqual(names.size, 12);
    const contents = new Set(saved.map((s) => fs.readFileSync(s.path, 'utf8')));
    assert.strictEqual(contents.size, 12, 'no file overwrote another');
  });

  it('streams into a hidden temp file and gives it its name only when complete', async () => {
    const saver = await create();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const saving = saver.saveStream({ filename: 'big.bin' }, chunks(64, 64 * 1024, { index: 32, until: gate }));
    // Wait until half the data is on disk.
    await eventually(() => walk(saver.dir).some((p) => p.endsWith('.part') && fs.statSync(path.join(saver.dir, p)).size >= 32 * 64 * 1024), 'half the data is on disk');
    const during = walk(saver.dir);
    assert.strictEqual(during.length, 1);
    assert.match(during[0], /^\.runcomfy-[0-9a-f]{12}\.part$/);
    release();
    const saved = await saving;
    assert.deepStrictEqual(walk(saver.dir), ['big.bin']);
    assert.strictEqual(saved.bytes, 64 * 64 * 1024);
    const expected = createHash('sha256');
    for (let i = 0; i < 64; i++) expected.update(Buffer.alloc(64 * 1024, i));
    assert.strictEqual(createHash('sha256').update(fs.readFileSync(saved.path)).digest('hex'), expected.digest('hex'));
  });

  it('accepts a Node stream, a web ReadableStream and an async generator', async () => {
    const saver = await create();
    const web = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('web '));
        controller.enqueue(new TextEncoder().encode('stream'));
        controller.close();
      },
    });
    const a = await saver.saveStream({ filename: 'node.txt' }, Readable.from([Buffer.from('node stream')]));
    const b = await saver.saveStream({ filename: 'web.txt' }, web);
    const c = await saver.saveStream({ filename: 'gen.txt' }, chunks(3, 2));
    assert.deepStrictEqual(
      [a, b, c].map((s) => fs.readFileSync(s.path, 'utf8')),
      ['node stream', 'web stream', '\0\0\u0001\u0001\u0002\u0002'],
    );
  });

  it('removes the temp file and keeps no output when aborted mid-stream', async () => {
    const saver = await create();
    const controller = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const saving = saver.saveStream({ filename: 'cut.bin', subfolder: 'video' }, chunks(10, 1024, { index: 5, until: gate }), controller.signal);
    await eventually(() => walk(saver.dir).some((p) => p.endsWith('.part')), 'the temp file exists');
    const reason = new Error('user cancelled');
    controller.abort(reason);
    release();
    await assert.rejects(saving, (e) => e === reason);
    assert.deepStrictEqual(walk(saver.dir), ['video']);
    assert.deepStrictEqual(saver.saved, []);
    await assert.rejects(saver.saveStream({ filename: 'late.bin' }, chunks(1, 1), controller.signal), (e) => e === reason);
    assert.deepStrictEqual(walk(saver.dir), ['video']);
  });

  it('removes the temp file and rethrows the source error when the download fails', async () => {
    const saver = await create();
    const failure = new Error('connection reset');
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('partial');
      await new Promise((r) => setImmediate(r));
      throw failure;
    }
    await assert.rejects(saver.saveStream({ filename: 'x.png' }, broken()), (e) => e === failure);
    assert.deepStrictEqual(walk(saver.dir), []);
  });

  it('does not enter a folder name taken by a file or a symbolic link, and says so', async () => {
    const saver = await create();
    const outside = path.join(tmp.dir, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(saver.dir, 'blocker'), 'a file where a folder should be');
    fs.symlinkSync(outside, path.join(saver.dir, 'link'), 'dir');
    const a = await saver.saveStream({ filename: 'x.png', subfolder: 'blocker' }, bytesOf('a'));
    const b = await saver.saveStream({ filename: 'y.png', subfolder: 'link/deeper' }, bytesOf('b'));
    assert.deepStrictEqual([a.relativePath, b.relativePath], ['blocker (1)/x.png', 'link (1)/deeper/y.png']);
    assert.match(a.warnings.join(), /saved as "blocker \(1\)\/x\.png" because "blocker\/x\.png" was already taken/);
    assert.deepStrictEqual(fs.readdirSync(outside), [], 'nothing went through the link');
  });

  it('explains a file system refusal, naming the output and folder, and leaves nothing behind', async () => {
    const saver = await create();
    fs.rmSync(saver.dir, { recursive: true });
    fs.writeFileSync(saver.dir, 'the run folder is gone, a file is in its place');
    await assert.rejects(saver.saveStream({ filename: 'x.png', subfolder: 'sub' }, bytesOf('x')), /Could not create the folder for output "sub\/x\.png" in .*20261128-154012-420a8392: ENOTDIR/);
    await assert.rejects(saver.saveStream({ filename: 'x.png' }, bytesOf('x')), /Could not save output "x\.png" in .*20261128-154012-420a8392: ENOTDIR/);
    assert.strictEqual(fs.readFileSync(saver.dir, 'utf8'), 'the run folder is gone, a file is in its place');
  });

  it('writes run.json atomically with a masked server, the prompt hash, outputs, timings and warnings', async () => {
    const saver = await create();
    await saver.saveStream({ filename: 'api_test_00001_.png', subfolder: 'research', type: 'output', nodeId: '4', kind: 'images' }, bytesOf('a'));
    await saver.saveStream({ filename: 'ComfyUI_temp_gyvgp_00001_.png', subfolder: '', type: 'temp', nodeId: '3', kind: 'images' }, bytesOf('bb'));
    await saver.saveStream({ filename: '../evil.png', type: 'output', nodeId: '5' }, bytesOf('ccc'));
    const promptText = readRecording('workflow_a_api.json');
    const prompt = JSON.parse(promptText) as Record<string, never>;
    const file = await saver.writeRunRecord({
      promptId: '420a8392-61a4-417a-be6a-f487b193f1f6',
      serverUrl: 'https://761af3a7-5ac3-4e2c-9d5b-000000000000-comfyui.runcomfy.com/',
      workflowFile: 'flows/workflow_api.json',
      prompt,
      uploads: [{ localPath: 'flows/in.png', serverName: 'in (1).png' }],
      timings: { queued: time, started: time + 1500, finished: time + 9000, phases: { upload: 200, queue: 1500, execute: 7500, download: 300 } },
      status: 'success',
      warnings: ['Node 7 was dropped by the server'],
    });
    assert.strictEqual(file, path.join(saver.dir, 'run.json'));
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(!text.includes('761af3a7-5ac3'), 'the capability URL is masked');
    const record = JSON.parse(text) as RunRecord;
    assert.deepStrictEqual(record, {
      version: 1,
      promptId: '420a8392-61a4-417a-be6a-f487b193f1f6',
      server: 'https://761a….runcomfy.com',
      workflowFile: 'flows/workflow_api.json',
      workflowHash: createHash('sha256').update(JSON.stringify(prompt)).digest('hex'),
      prompt,
      uploads: [{ localPath: 'flows/in.png', serverName: 'in (1).png' }],
      timings: {
        queued: '2026-11-28T10:10:12.000Z',
        started: '2026-11-28T10:10:13.500Z',
        finished: '2026-11-28T10:10:21.000Z',
        phases: { upload: 200, queue: 1500, execute: 7500, download: 300 },
      },
      status: 'success',
      outputs: [
        { node: '4', filename: 'api_test_00001_.png', subfolder: 'research', type: 'output', path: 'research/api_test_00001_.png' },
        { node: '3', filename: 'ComfyUI_temp_gyvgp_00001_.png', subfolder: '', type: 'temp', path: 'ComfyUI_temp_gyvgp_00001_.png' },
        { node: '5', filename: '../evil.png', subfolder: '', type: 'output', path: '.._evil.png' },
      ],
      files: [
        { path: 'research/api_test_00001_.png', node: '4', kind: 'images', bytes: 1 },
        { path: 'ComfyUI_temp_gyvgp_00001_.png', node: '3', kind: 'images', bytes: 2 },
        { path: '.._evil.png', node: '5', kind: '', bytes: 3 },
      ],
      warnings: [saver.warnings[0], 'Node 7 was dropped by the server'],
    });
    assert.match(record.warnings[0], /Output "\.\.\/evil\.png" of node 5 was saved as "\.\._evil\.png": file name: path separators replaced/);
    assert.strictEqual(hashPrompt(promptText), createHash('sha256').update(promptText).digest('hex'), 'text is hashed as submitted');

    await saver.writeRunRecord({ promptId: 'p', serverUrl: 'http://127.0.0.1:8188', prompt, status: 'interrupted', error: 'Interrupted by user' });
    const second = JSON.parse(fs.readFileSync(file, 'utf8')) as RunRecord;
    assert.strictEqual(second.status, 'interrupted');
    assert.strictEqual(second.server, 'http://127.0.0.1:8188', 'loopback URLs are not secret');
    assert.strictEqual(second.error, 'Interrupted by user');
    assert.ok(!walk(saver.dir).some((p) => p.includes('.part')), 'no temp files left');
  });
});
