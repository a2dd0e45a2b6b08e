import * as assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { PromptQueue, type QueueItem } from '../../src/simulator/comfy/promptQueue';

function item(n: number): QueueItem {
  return { number: n, promptId: `p${n}`, prompt: new Map(), extraData: new Map(), outputs: [], sensitive: new Map() };
}

describe('ComfyUI simulator PromptQueue', () => {
  it('leaves no abort listener behind when a wait for the next prompt ends', async () => {
    const queue = new PromptQueue(() => undefined);
    const life = new AbortController();
    for (let n = 0; n < 20; n++) {
      // The worker waits on an empty queue, as between prompts, until the next one comes.
      const next = queue.next(life.signal);
      queue.put(item(n));
      assert.equal((await next)?.item.promptId, `p${n}`);
    }
    assert.equal(getEventListeners(life.signal, 'abort').length, 0);
    const waiting = queue.next(life.signal);
    life.abort();
    assert.equal(await waiting, undefined);
  });
});
