import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MultipartParser, type MultipartPartInfo } from '../../src/simulator/comfy/multipartParser';
import { decodePng, encodePng } from '../../src/base/png';
import { type PyError, pyFloat, pyInt, pyRepr } from '../../src/simulator/comfy/pyFormat';
import { parsePyJson, PyFloat, pyDumps, pyFloatRepr, type PyDict, type PyValue } from '../../src/simulator/comfy/pyJson';
import * as pypath from '../../src/simulator/comfy/pyPath';
import { PySet, PyStrHasher, RECORDED_HASH_SEED } from '../../src/simulator/comfy/pySet';
import { rowBytes, solidImage, tensorRepr } from '../../src/simulator/comfy/simImage';
import { at, recording, RECORDINGS } from './helpers/comfyReplay';

/**
 * The Python/Pillow emulation under the simulator, checked against values a real CPython 3.11
 * produced (`PYTHONHASHSEED=24745 python3 -c '...'`, pasted below) and against recorded bytes.
 */

// CPython 3.11.7, PYTHONHASHSEED=24745: hash(s) % 2**64 and list(set) for the sets ComfyUI builds.
const CPYTHON = {
  hashes: {
    '1': 11538194533734826138n,
    '20': 14543167956183910500n,
    width: 8644816967237430792n,
    'h\u00e9llo': 7948988679555987915n,
    '\u65e5\u672c': 9047656500671088020n,
    '\ud83d\ude00x': 5884926473147741543n,
    '': 0n,
    aaaaaaaaaaaaaaaaaaaa: 4925572583853422379n,
  } as Record<string, bigint>,
  cases: [
    { kind: 'add', items: ['3', '4', '6', '7'], order: ['7', '3', '6', '4'] },
    { kind: 'add', items: ['1', '2', '3', '4', '5', '6', '7'], order: ['2', '5', '4', '6', '7', '1', '3'] },
    {
      kind: 'add',
      items: Array.from({ length: 39 }, (_, i) => String(i + 1)),
      order: ['28', '27', '1', '36', '8', '29', '9', '14', '15', '23', '5', '34', '4', '26', '7', '18', '19', '25', '33', '17', '12', '38', '10', '32', '11', '16', '39', '20', '2', '35', '30', '6', '37', '21', '22', '24', '13', '3', '31'],
    },
    { kind: 'dict', items: ['width', 'height', 'batch_size', 'color'], order: ['width', 'height', 'color', 'batch_size'] },
    { kind: 'union', items: ['image', 'upscale_method', 'width', 'height', 'crop'], order: ['image', 'upscale_method', 'width', 'height', 'crop'] },
    { kind: 'add', items: ['h\u00e9llo', '\u65e5\u672c', '\ud83d\ude00x', '', 'aaaaaaaaaaaaaaaaaaaa'], order: ['', '\ud83d\ude00x', 'aaaaaaaaaaaaaaaaaaaa', 'h\u00e9llo', '\u65e5\u672c'] },
  ],
};

describe('ComfySimulator Python emulation: str hash and set order', () => {
  const hasher = new PyStrHasher(RECORDED_HASH_SEED);

  it('hashes str exactly like CPython 3.11 with the same PYTHONHASHSEED (1-, 2- and 4-byte strings)', () => {
    for (const [s, h] of Object.entries(CPYTHON.hashes)) assert.equal(hasher.hash(s), h, JSON.stringify(s));
  });

  it('iterates sets in CPython order: add() one by one, set(dict), and set(dict).union(set())', () => {
    for (const c of CPYTHON.cases) {
      const set = c.kind === 'add' ? PySet.of(hasher, c.items) : c.kind === 'dict' ? PySet.fromDict(hasher, c.items) : PySet.fromDict(hasher, c.items).union(PySet.fromDict(hasher, []));
      assert.deepEqual([...set], c.order, `${c.kind} ${c.items.join(',')}`);
    }
  });

  it('gives PYTHONHASHSEED=0 the all-zero key (a different order)', () => {
    assert.notDeepEqual([...PySet.of(new PyStrHasher(0), ['3', '4', '6', '7'])], ['7', '3', '6', '4']);
  });
});

describe('ComfySimulator Python emulation: json, repr, int(), float(), posixpath', () => {
  it('parses like json.loads: dict order kept for numeric keys, 10.0 kept apart from 10, big ints exact', () => {
    const v = parsePyJson('{"9": 1, "20": 10.0, "1": [18446744073709551615, 1e-05, NaN, -Infinity], "9": 2}') as PyDict;
    assert.deepEqual([...v.keys()], ['9', '20', '1']);
    assert.equal(v.get('9'), 2, 'a duplicate key keeps its first place and takes the last value');
    assert.ok(v.get('20') instanceof PyFloat);
    assert.equal(pyDumps(v), '{"9": 2, "20": 10.0, "1": [18446744073709551615, 1e-05, NaN, -Infinity]}');
  });

  it('raises json.loads messages with line, column and char', () => {
    assert.throws(() => parsePyJson('{not json'), /^JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 \(char 1\)$/);
    assert.throws(() => parsePyJson(''), /Expecting value: line 1 column 1 \(char 0\)/);
    assert.throws(() => parsePyJson('[1]\n x'), /Extra data: line 2 column 2 \(char 5\)/);
    assert.throws(() => parsePyJson('"a\u0001"'), /Invalid control character at/);
  });

  it('dumps like json.dumps: ", " and ": ", non-ASCII and control characters escaped', () => {
    assert.equal(pyDumps(new Map<string, PyValue>([['é', 'x\u0000\ud83d\ude00\u007f'], ['b', [true, null, new PyFloat(0.5)]]])), '{"\\u00e9": "x\\u0000\\ud83d\\ude00\\u007f", "b": [true, null, 0.5]}');
  });

  it('formats floats like repr()', () => {
    const cases: [number, string][] = [
      [10, '10.0'],
      [0.1, '0.1'],
      [1e-5, '1e-05'],
      [0.0001, '0.0001'],
      [1e16, '1e+16'],
      [1e22, '1e+22'],
      [0.30000000000000004, '0.30000000000000004'],
      [1.5e-7, '1.5e-07'],
      [-0, '-0.0'],
      [1795876529.1135519, '1795876529.1135519'],
    ];
    for (const [x, s] of cases) assert.equal(pyFloatRepr(x), s);
  });

  it('quotes and escapes like repr(str) and formats containers like Python', () => {
    assert.equal(pyRepr("it's"), '"it\'s"');
    assert.equal(pyRepr('a\nb\\'), "'a\\nb\\\\'");
    assert.equal(pyRepr(['nearest-exact', 1, null, true, new PyFloat(2)]), "['nearest-exact', 1, None, True, 2.0]");
  });

  it("converts like int() and float(), with Python's messages", () => {
    assert.equal(pyInt(' 64 '), 64);
    assert.equal(pyInt('1_000'), 1000);
    assert.equal(pyInt(new PyFloat(-3.9)), -3);
    assert.throws(() => pyInt('abc'), (e: PyError) => e.pyType === 'ValueError' && e.message === "invalid literal for int() with base 10: 'abc'");
    assert.throws(() => pyInt('3.5'), /invalid literal for int\(\) with base 10: '3.5'/);
    assert.throws(() => pyInt(null), /int\(\) argument must be a string, a bytes-like object or a real number, not 'NoneType'/);
    assert.throws(() => pyInt(new PyFloat(Infinity)), (e: PyError) => e.pyType === 'OverflowError');
    assert.equal(pyFloat('1e3'), 1000);
    assert.equal(pyFloat('-inf'), -Infinity);
    assert.throws(() => pyFloat('x'), /could not convert string to float: 'x'/);
  });

  it('does posixpath like Python: normpath, join, commonpath without resolving ..', () => {
    assert.equal(pypath.normpath('../../escape'), '../../escape');
    assert.equal(pypath.normpath('/a/./b/../c//'), '/a/c');
    assert.equal(pypath.normpath('//a'), '//a');
    assert.equal(pypath.join('/out', '/etc'), '/etc');
    assert.equal(pypath.dirname('research/api_test'), 'research');
    assert.deepEqual(pypath.splitext('.hidden'), ['.hidden', '']);
    assert.deepEqual(pypath.splitext('a.tar.gz'), ['a.tar', '.gz']);
    assert.equal(pypath.commonpath(['/out', '/out/../x']), '/out');
    assert.throws(() => pypath.commonpath(['/a', 'b']), /Can't mix absolute and relative paths/);
  });
});

describe('ComfySimulator Pillow emulation: PNG and tensor repr', () => {
  it('encodes the recorded preview frame with the same filters and pixels (Pillow row filter choice)', async () => {
    const recorded = fs.readFileSync(path.join(RECORDINGS, 'ws_binary_preview_legacy.png'));
    const img = solidImage(128, 96, 16746496);
    const png = await encodePng({ width: 128, height: 96, channels: 3, row: (y) => rowBytes(img, y) }, { compressLevel: 1 });
    const a = decodePng(png);
    const b = decodePng(recorded);
    assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels]);
    assert.ok(Buffer.from(a.pixels).equals(Buffer.from(b.pixels)));
    assert.equal(png.length, recorded.length);
  });

  it('round-trips RGBA and grey PNGs of odd sizes, and reads tEXt chunks', async () => {
    const w = 13;
    const h = 7;
    const rgba = Buffer.from(Array.from({ length: w * h * 4 }, (_, i) => (i * 37) & 0xff));
    const png = await encodePng({ width: w, height: h, channels: 4, row: (y) => rgba.subarray(y * w * 4, (y + 1) * w * 4) }, { compressLevel: 9, text: [['k', 'v']] });
    const d = decodePng(png);
    assert.equal(d.channels, 4);
    assert.ok(Buffer.from(d.pixels).equals(rgba));
    assert.deepEqual(d.text, [['k', 'v']]);
    const grey = Buffer.from(Array.from({ length: w * h }, (_, i) => i));
    const g = decodePng(await encodePng({ width: w, height: h, channels: 1, row: (y) => grey.subarray(y * w, (y + 1) * w) }, { compressLevel: 6 }));
    assert.ok(Buffer.from(g.pixels).equals(grey));
  });

  it('prints a tensor like torch (the recorded current_inputs repr of a 1x64x64x3 zero image)', () => {
    const entry = [...(at(recording('history_runtime_error.json'), 'body') as PyDict).values()][0]!;
    const recorded = at(entry, 'status', 'messages', 2, 1, 'current_inputs', 'images', 0);
    assert.equal(tensorRepr([solidImage(64, 64, 0)]), recorded);
  });
});

describe('ComfySimulator multipart parser', () => {
  const boundary = '----b0undary';
  const body = Buffer.concat([
    Buffer.from(`preamble\r\n--${boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\ninput\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a b.png"\r\nContent-Type: image/png\r\n\r\n`),
    Buffer.from(`x\r\n--${boundary.slice(0, -2)}zz\r\n\r\n--${boundary.slice(0, 5)}`),
    Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="utf"; filename*=UTF-8''%C3%A9.png\r\n\r\n\r\n--${boundary}--\r\nepilogue`),
  ]);

  async function parse(chunks: Buffer[]): Promise<{ info: MultipartPartInfo; data: string }[]> {
    const parts: { info: MultipartPartInfo; data: Buffer[] }[] = [];
    const parser = new MultipartParser(boundary, {
      begin: (info) => void parts.push({ info, data: [] }),
      data: (chunk) => void parts.at(-1)!.data.push(Buffer.from(chunk)),
      end: () => {},
    });
    for (const c of chunks) await parser.write(c);
    parser.finish();
    return parts.map((p) => ({ info: p.info, data: Buffer.concat(p.data).toString('utf8') }));
  }

  it('finds the same parts however the body is cut into chunks (every split point, and 1-byte chunks)', async () => {
    const whole = await parse([body]);
    assert.deepEqual(
      whole.map((p) => [p.info.name, p.info.filename, p.data]),
      [
        ['type', undefined, 'input'],
        ['image', 'a b.png', `x\r\n--${boundary.slice(0, -2)}zz\r\n\r\n--${boundary.slice(0, 5)}`],
        ['utf', 'é.png', ''],
      ],
    );
    for (let i = 1; i < body.length; i++) assert.deepEqual(await parse([body.subarray(0, i), body.subarray(i)]), whole, `split at ${i}`);
    assert.deepEqual(await parse([...body].map((b) => Buffer.from([b]))), whole);
  });

  it('refuses a body without its closing boundary', async () => {
    await assert.rejects(parse([body.subarray(0, body.length - 20)]), /ended before its closing boundary/);
  });
});
