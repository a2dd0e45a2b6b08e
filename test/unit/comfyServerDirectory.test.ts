import * as assert from 'node:assert/strict';
import { ComfyServerDirectory } from '../../src/core/comfyServerDirectory';
import { startComfySimulator, type ComfySimulator } from '../../src/simulator/comfySimulator';

describe('ComfyServerDirectory (against the ComfyUI simulator)', function () {
  this.timeout(20_000);
  let sim: ComfySimulator;
  let servers: ComfyServerDirectory;

  before(async () => {
    sim = await startComfySimulator();
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    await sim.reset();
    servers = new ComfyServerDirectory();
  });
  afterEach(() => servers.dispose());

  const objectInfoReads = () => sim.requests().filter((r) => r.path === '/object_info').length;

  it('shares one client and one /object_info per server while it is known', async () => {
    const a = await servers.client(sim.url).getObjectInfo();
    const b = await servers.client(sim.url).getObjectInfo();
    assert.equal(a, b);
    assert.equal(objectInfoReads(), 1);
  });

  it('keeps a bounded number of clients, dropping the least recently used', () => {
    const first = servers.client(sim.url);
    for (let i = 0; i < 50; i++) servers.client(`http://127.0.0.1:9/machine-${i}`);
    assert.notEqual(servers.client(sim.url), first, 'fifty other servers later, the first client is still held');
  });

  it('drops the client and the node list of a server that is gone', async () => {
    await servers.client(sim.url).getObjectInfo();
    servers.retain([sim.url]);
    await servers.client(sim.url).getObjectInfo();
    assert.equal(objectInfoReads(), 1, 'a server still listed keeps its node list');
    servers.retain([]);
    await servers.client(sim.url).getObjectInfo();
    assert.equal(objectInfoReads(), 2, 'the node list of a gone server was kept');
  });
});
