/**
 * Text that a server, a workflow file or a setting sent, shown to a person. A terminal obeys escape
 * sequences (move the cursor, clear the screen, set the window title) and text-direction controls
 * reorder what is read; Markdown turns brackets into links and images. Both escapers below make such
 * text show as the characters it is made of, and nothing else.
 */

// C0 controls, DEL, C1 controls (U+009B is a one-character CSI to many terminals), the Arabic letter
// mark, LRM/RLM, the bidi embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const steering = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Escapes every control and text-direction character as `\uXXXX`, so a machine name or an error
 * message cannot steer a terminal or reorder a line. `layout` keeps line breaks and tabs: for whole
 * lines the CLI composed. A single field (a table cell, a name) never keeps them.
 *
 * The escape is JSON's own: applied to `JSON.stringify` output (where these characters can only stand
 * inside strings, after an even number of backslashes) it yields equivalent JSON.
 */
export function printableText(text: string, mode: 'layout' | 'field' = 'field'): string {
  return text.replace(steering, (c) =>
    mode === 'layout' && (c === '\n' || c === '\t') ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * `text` as Markdown that renders exactly as `text`: controls escaped as in `printableText`, line
 * breaks as spaces, and every ASCII punctuation character backslash-escaped (CommonMark lets any
 * of them be), so no link, image, autolink, HTML tag, code span, emphasis or table cell can form.
 */
export function markdownText(text: string): string {
  return printableText(text.replace(/\r\n|[\r\n]/g, ' ')).replace(/[!-/:-@[-`{-~]/g, '\\$&');
}
