/**
 * The two sides of the websocket benchmark, each in a process of its own:
 *
 *   node out/bench/socketClient.js engine <comfyUrl> <outputRoot>   the run engine, with the run log behind it
 *   node out/bench/socketClient.js bare <comfyUrl>                  a bare `ws` loop that only parses
 *
 * The orchestrator arms the simulator's flood first, so the next prompt streams its progress
 * messages and previews as fast as the socket takes them, after a short stall that lets POST /prompt
 * answer first (as a real server does; the simulator's flood would otherwise starve the answer). Both sides open the socket the same way:
 * no permessage-deflate (previews are PNG or JPEG already), the `feature_flags` handshake that asks
 * for previews with metadata, then POST /prompt. Prints one JSON line.
 */
import { randomUUID } from 'node:crypto';
import { type ApiPrompt } from '../src/api/comfyTypes';
import { ComfySocket } from '../src/api/comfySocket';
import { ws } from '../src/api/lazy';
import { RunEngine } from '../src/core/runEngine';
import { RunLog } from '../src/output/runLog';

/** A chain of cheap nodes: each one is an `executing` message and a log line, so the log has lines to batch. */
export function floodPrompt(chainLength: number): ApiPrompt {
  const prompt: ApiPrompt = { '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 0 } } };
  for (let i = 2; i <= chainLength + 1; i++) prompt[String(i)] = { class_type: 'ImageInvert', inputs: { image: [String(i - 1), 0] } };
  prompt[String(chainLength + 2)] = { class_type: 'SaveImage', inputs: { images: [String(chainLength + 1), 0], filename_prefix: 'bench/flood' } };
  return prompt;
}

export interface SocketResult {
  /** From the first progress message to the end of the run (engine) or the prompt's end message (bare). */
  readonly seconds: number;
  /** Messages seen: text frames, binary frames. */
  readonly text: number;
  readonly binary: number;
  readonly status?: string;
  /** Engine only: when the log sink was called (ms from the start), and how many lines it got. */
  readonly appendTimesMs?: number[];
  readonly lines?: number;
  readonly events?: number;
}

const chainLength = Number(process.env.BENCH_CHAIN ?? 300);

async function engine(comfyUrl: string, outputRoot: string): Promise<SocketResult> {
  const appendTimesMs: number[] = [];
  let lines = 0;
  let events = 0;
  const started = performance.now();
  const count = (text: string) => {
    appendTimesMs.push(performance.now() - started);
    lines += text.split('\n').length;
  };
  // The one part of vscode.LogOutputChannel the run log calls: a method per level.
  const channel = { trace: count, debug: count, info: count, warn: count, error: count };
  const runLog = new RunLog(channel);
  let text = 0;
  let binary = 0;
  let firstAt: number | undefined;
  // The engine's own socket, as it would make it, held here only to count what arrives on it.
  const createSocket = (url: string, clientId: string) => {
    const socket = new ComfySocket({ baseUrl: url, clientId });
    socket.onMessage((m) => {
      if (m.type === 'progress' && firstAt === undefined) firstAt = performance.now();
      if (m.type === 'preview' || m.type === 'text') binary++;
      else text++;
    });
    return socket;
  };
  const run = new RunEngine({ prompt: floodPrompt(chainLength), comfyUrl, outputRoot, workflowName: 'bench', createSocket });
  run.onEvent(() => events++);
  runLog.attach(run.onEvent, { workflow: 'bench flood', target: 'the ComfyUI simulator', server: comfyUrl });
  const result = await run.run();
  const seconds = (performance.now() - (firstAt ?? started)) / 1000;
  run.dispose();
  // The extension keeps its run log for the window's life: let the batcher drain on its own schedule
  // instead of counting the final flush of dispose(), which only runs at deactivation.
  await new Promise((resolve) => setTimeout(resolve, 500));
  runLog.dispose();
  return { seconds, text, binary, status: result.status, appendTimesMs, lines, events };
}

async function bare(comfyUrl: string): Promise<SocketResult> {
  const clientId = randomUUID();
  const started = performance.now();
  const url = new URL(comfyUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = '/ws';
  url.searchParams.set('clientId', clientId);
  const WebSocket = ws();
  const socket = new WebSocket(url, { perMessageDeflate: false });
  socket.binaryType = 'nodebuffer';
  let text = 0;
  let binary = 0;
  let promptId: string | undefined;
  let firstAt: number | undefined;
  // A prompt can end before POST /prompt answers: remember which ones ended.
  const ended = new Set<string>();
  const done = new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } })));
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        binary++;
        // What a client must read of a preview frame: its type and, for type 4, the metadata.
        if (data.readUInt32BE(0) === 4) JSON.parse(data.toString('utf8', 8, 8 + data.readUInt32BE(4)));
        return;
      }
      text++;
      const msg = JSON.parse(data.toString('utf8')) as { type: string; data: { sid?: string; node?: string | null; prompt_id?: string } };
      if (msg.type === 'progress' && firstAt === undefined) firstAt = performance.now();
      if (msg.type === 'status' && msg.data.sid !== undefined && promptId === undefined) {
        promptId = '';
        queue(comfyUrl, clientId).then((id) => {
          promptId = id;
          if (ended.has(id)) resolve();
        }, reject);
      }
      if (msg.type === 'executing' && msg.data.node === null && msg.data.prompt_id !== undefined) {
        ended.add(msg.data.prompt_id);
        if (msg.data.prompt_id === promptId) resolve();
      }
    });
  });
  await done;
  const seconds = (performance.now() - (firstAt ?? started)) / 1000;
  socket.close();
  return { seconds, text, binary };
}

async function queue(comfyUrl: string, clientId: string): Promise<string> {
  const res = await fetch(`${comfyUrl}/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: floodPrompt(chainLength), client_id: clientId }),
  });
  const json = (await res.json()) as { prompt_id?: string };
  if (!res.ok || !json.prompt_id) throw new Error(`POST /prompt answered ${res.status}`);
  return json.prompt_id;
}

async function main(): Promise<void> {
  const [mode, comfyUrl, outputRoot] = process.argv.slice(2);
  const result = mode === 'engine' ? await engine(comfyUrl, outputRoot) : mode === 'bare' ? await bare(comfyUrl) : undefined;
  if (!result) throw new Error(`usage: socketClient engine <url> <outputRoot> | bare <url>; got ${mode}`);
  console.log(JSON.stringify(result));
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
