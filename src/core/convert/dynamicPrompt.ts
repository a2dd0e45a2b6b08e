/** Nesting deeper than this is kept as written: a file cannot make the pass recurse without bound. */
const maxNesting = 100;

/**
 * The frontend's dynamic-prompt pass over text widgets marked `dynamicPrompts` (CLIPTextEncode's
 * `text`, …), applied when a prompt is built: C-style comments are removed, `{a|b|c}` picks one
 * option (nesting allowed), and `\{`, `\}`, `\|` are unescaped. Only the pick is random, so callers
 * inject `random` (Math.random-shaped) to make it reproducible.
 */
export function processDynamicPrompt(input: string, random: () => number): string {
  return processAt(input, random, 0);
}

function processAt(input: string, random: () => number, depth: number): string {
  // The frontend strips `//` to the end of the line even inside URLs (`http://x` becomes `http:`).
  const text = input.replace(/\/\*[\s\S]*?\*\/|\/\/.*/g, '');
  let i = 0;
  const escaped = (): string => `\\${text[i++] ?? ''}`;

  const choice = (): string => {
    const options: string[] = [];
    let current = '';
    let level = 0;
    while (i < text.length) {
      const c = text[i++];
      if (c === '\\') {
        current += escaped();
        continue;
      }
      if (c === '{') level++;
      else if (c === '}') {
        if (!level) break;
        level--;
      } else if (c === '|' && !level) {
        options.push(current);
        current = '';
        continue;
      }
      current += c;
    }
    options.push(current);
    const picked = options[Math.floor(random() * options.length)] ?? options[0];
    return depth < maxNesting ? processAt(picked, random, depth + 1) : picked;
  };

  let out = '';
  while (i < text.length) {
    const c = text[i++];
    if (c === '\\') out += escaped();
    else if (c === '{') out += choice();
    else out += c;
  }
  return out.replace(/\\([{}|])/g, '$1');
}
