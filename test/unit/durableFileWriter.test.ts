import * as assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DurableFileWriter } from '../../src/core/durableFileWriter';
import { makeTempDir } from './helpers/workflowFixtures';

/** Chunks of uneven sizes, as a socket delivers them: some smaller than a batch, some larger, and a small tail. */
function chunks(total: number): Buffer[] {
  const out: Buffer[] = [];
  let left = total;
  for (let k = 0; left > 0; k++) {
    const size = Math.min(left, [1, 700, 4096, 65536, 3000, 250_000][k % 6]);
    out.push(randomBytes(size));
    left -= size;
  }
  out.push(randomBytes(5));
  return out;
}

describe('DurableFileWriter', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = makeTempDir('durable-writer-')));
  afterEach(() => cleanup());

  it('writes every byte in order through batches and background syncs', async () => {
    const parts = chunks(3_000_000);
    const file = path.join(dir, 'out.bin');
    // Small batches and frequent syncs, so both happen many times during one file.
    await pipeline(Readable.from(parts), new DurableFileWriter(file, { batchBytes: 10_000, syncEveryBytes: 100_000 }));
    assert.ok(fs.readFileSync(file).equals(Buffer.concat(parts)));
  });

  it('writes an empty stream as an empty file', async () => {
    const file = path.join(dir, 'empty.bin');
    await pipeline(Readable.from([]), new DurableFileWriter(file));
    assert.strictEqual(fs.statSync(file).size, 0);
  });

  it('refuses a file that exists and leaves it as it was', async () => {
    const file = path.join(dir, 'taken.bin');
    fs.writeFileSync(file, 'mine');
    await assert.rejects(pipeline(Readable.from([Buffer.from('theirs')]), new DurableFileWriter(file)), { code: 'EEXIST' });
    assert.strictEqual(fs.readFileSync(file, 'utf8'), 'mine');
  });

  it('closes its file when the source fails midway, so the caller can remove it', async () => {
    const file = path.join(dir, 'broken.bin');
    function* failing() {
      yield randomBytes(300_000);
      throw new Error('connection reset');
    }
    await assert.rejects(pipeline(Readable.from(failing()), new DurableFileWriter(file, { batchBytes: 1000, syncEveryBytes: 1000 })), /connection reset/);
    fs.rmSync(file);
    assert.strictEqual(fs.existsSync(file), false);
  });
});
