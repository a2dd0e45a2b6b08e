import * as assert from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ComfyClient } from '../../src/api/comfyClient';
import { recordingsDir } from './helpers/runRecordings';
import { tempDir } from './helpers/runHarness';
import { startSimulatorProcess, type SimulatorProcess } from './helpers/runSimulatorProcess';

const mb = 1024 * 1024;

/** Writes `size` bytes of a repeating random block, streamed, and returns the file's sha256. */
async function writeBigFile(file: string, size: number): Promise<string> {
  const block = crypto.randomBytes(mb);
  const hash = crypto.createHash('sha256');
  const out = fs.createWriteStream(file);
  for (let written = 0; written < size; written += block.length) {
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return hash.digest('hex');
}

describe('ComfyClient uploads against the ComfyUI simulator (in its own process)', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;
  let dir: string;

  before(async () => {
    sim = await startSimulatorProcess({ maxUploadSizeMb: 300 });
    dir = tempDir('runcomfy-upload-');
  });
  after(async () => {
    await sim.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uploads 200 MB streamed, with bounded memory, under its content-derived name', async () => {
    const file = path.join(dir, 'big input.mp4');
    const hash = await writeBigFile(file, 200 * mb);
    const client = new ComfyClient({ baseUrl: sim.url });
    // Loading undici and a first small upload are start-up costs, not the upload's.
    await client.uploadFile(path.join(recordingsDir, 'view_saveimage_output.png'));
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    let progressCalls = 0;
    let uploaded;
    try {
      uploaded = await client.uploadFile(file, { onProgress: () => progressCalls++ });
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const growthMb = (peak - before) / mb;
    // Streaming leaves 30-50 MB of collectable chunks at the peak, whatever the file size; a file read whole adds at least its 200 MB.
    assert.ok(growthMb < 80, `RSS grew by ${growthMb.toFixed(1)} MB during a 200 MB upload`);
    assert.strictEqual(uploaded.name, `big_input-${hash.slice(0, 12)}.mp4`);
    assert.strictEqual(uploaded.type, 'input');
    const onServer = path.join(sim.input, uploaded.name);
    const serverHash = crypto.createHash('sha256');
    for await (const chunk of fs.createReadStream(onServer)) serverHash.update(chunk as Buffer);
    assert.strictEqual(serverHash.digest('hex'), hash);
    assert.ok(progressCalls > 10);
  });

  it('lands a re-upload of the same bytes on the same name, and different bytes on another', async () => {
    const client = new ComfyClient({ baseUrl: sim.url });
    const file = path.join(dir, 'same.png');
    fs.copyFileSync(path.join(recordingsDir, 'view_saveimage_output.png'), file);
    const first = await client.uploadFile(file);
    const second = await client.uploadFile(file);
    assert.strictEqual(second.name, first.name);
    fs.appendFileSync(file, 'x');
    const changed = await client.uploadFile(file);
    assert.notStrictEqual(changed.name, first.name);
    assert.match(changed.name, /^same-[0-9a-f]{12}\.png$/);
    assert.deepStrictEqual(fs.readdirSync(sim.input).filter((f) => f.startsWith('same-')).sort(), [first.name, changed.name].sort());
  });
});
