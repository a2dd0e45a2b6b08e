import { type ApiPrompt } from '../src/api/comfyTypes';

/**
 * Generated API-format workflows for the analysis benchmark, deterministic (a fixed-seed generator),
 * written the way ComfyUI's "Export (API)" writes them: `JSON.stringify(prompt, null, 2)`.
 *
 * `mixed`: 2,000 nodes in a repeating pattern of ten: 3 KSampler (8 short widget inputs and 2
 * links), 3 CLIPTextEncode (a long prompt and a link), 1 LoadImage, 1 SaveImage, 1 VAEDecode
 * (2 links) and 1 CheckpointLoaderSimple, with prompts as long as it takes to make 5 MB.
 * `dense`: the same 2,000 nodes shaped like large custom nodes (FaceDetailer-like), 60 short
 * inputs each and no long text: the shape that costs analysis the most per byte.
 */
export type WorkflowShape = 'mixed' | 'dense';

const WORDS =
  'masterpiece best quality portrait of a woman in a sunlit field golden hour cinematic lighting detailed face sharp focus bokeh 85mm film grain soft shadows intricate elegant highly detailed'.split(
    ' ',
  );

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

function mixed(nodes: number, promptLength: number): ApiPrompt {
  const r = random(42);
  const text = () => {
    const words: string[] = [];
    let length = 0;
    while (length < promptLength) {
      const w = WORDS[Math.floor(r() * WORDS.length)];
      words.push(w);
      length += w.length + 1;
    }
    return words.join(' ');
  };
  const prompt: ApiPrompt = {};
  for (let i = 1; i <= nodes; i++) {
    const id = String(i);
    const prev = String(Math.max(1, i - 1));
    const prev2 = String(Math.max(1, i - 2));
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
        prompt[id] = {
          inputs: {
            seed: Math.floor(r() * 1e15),
            steps: 20 + (i % 30),
            cfg: 7.5,
            sampler_name: 'euler_ancestral',
            scheduler: 'karras',
            denoise: 1,
            add_noise: 'enable',
            start_at_step: 0,
            model: [prev, 0],
            positive: [prev2, 0],
          },
          class_type: 'KSampler',
          _meta: { title: 'KSampler' },
        };
        break;
      case 3:
      case 4:
      case 5:
        prompt[id] = { inputs: { text: text(), clip: [prev, 1] }, class_type: 'CLIPTextEncode', _meta: { title: 'CLIP Text Encode (Prompt)' } };
        break;
      case 6:
        prompt[id] = { inputs: { image: `inputs/photo_${i}.png`, upload: 'image' }, class_type: 'LoadImage', _meta: { title: 'Load Image' } };
        break;
      case 7:
        prompt[id] = { inputs: { filename_prefix: `ComfyUI/render_${i}`, images: [prev, 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } };
        break;
      case 8:
        prompt[id] = { inputs: { samples: [prev, 0], vae: [prev2, 2] }, class_type: 'VAEDecode', _meta: { title: 'VAE Decode' } };
        break;
      default:
        prompt[id] = { inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' }, class_type: 'CheckpointLoaderSimple', _meta: { title: 'Load Checkpoint' } };
    }
  }
  return prompt;
}

function dense(nodes: number, inputsPerNode: number): ApiPrompt {
  const prompt: ApiPrompt = {};
  for (let i = 1; i <= nodes; i++) {
    const inputs: Record<string, unknown> = {};
    for (let j = 0; j < inputsPerNode; j++) {
      const name = `option_${j}`;
      switch (j % 5) {
        case 0:
          inputs[name] = [String(Math.max(1, i - 1)), j % 3];
          break;
        case 1:
          inputs[name] = 'enable';
          break;
        case 2:
          inputs[name] = 0.35;
          break;
        case 3:
          inputs[name] = 1024;
          break;
        default:
          inputs[name] = true;
      }
    }
    prompt[String(i)] = { inputs, class_type: 'FaceDetailer', _meta: { title: 'FaceDetailer' } };
  }
  return prompt;
}

/** The workflow text: about `targetBytes` long for `mixed` (prompt length solved for), fixed for `dense`. */
export function generateWorkflow(shape: WorkflowShape, nodes = 2000, targetBytes = 5_000_000): string {
  if (shape === 'dense') return JSON.stringify(dense(nodes, 60), null, 2);
  const withoutText = JSON.stringify(mixed(nodes, 0), null, 2).length;
  const textNodes = Object.values(mixed(nodes, 0)).filter((n) => n.class_type === 'CLIPTextEncode').length;
  return JSON.stringify(mixed(nodes, Math.max(0, Math.round((targetBytes - withoutText) / textNodes))), null, 2);
}
