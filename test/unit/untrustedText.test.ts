import * as assert from 'node:assert/strict';
import { markdownText, printableText } from '../../src/base/untrustedText';

/** Every character a terminal or a bidi algorithm obeys, as `printableText` must escape them. */
const steering = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
  0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
].map((c) => String.fromCharCode(c));

describe('untrusted text shown to people', () => {
  describe('printableText', () => {
    it('escapes every C0 and C1 control, DEL and bidi control visibly as \\uXXXX', () => {
      for (const c of steering) {
        assert.equal(printableText(`a${c}b`), `a\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}b`, `U+${c.charCodeAt(0).toString(16)}`);
      }
    });

    it('turns escape sequences for the cursor, the screen and the window title into plain text', () => {
      const hostile = 'name\x1b[2J\x1b[1;1H\x1b]0;pwned\x07\r\u202eexe.txt\u009b31m';
      const shown = printableText(hostile, 'layout');
      assert.equal(shown, 'name\\u001b[2J\\u001b[1;1H\\u001b]0;pwned\\u0007\\u000d\\u202eexe.txt\\u009b31m');
      assert.ok(![...shown].some((c) => steering.includes(c)));
    });

    it('keeps line breaks and tabs only for layout, never inside a field', () => {
      assert.equal(printableText('a\tb\nc', 'layout'), 'a\tb\nc');
      assert.equal(printableText('a\tb\nc'), 'a\\u0009b\\u000ac');
    });

    it('leaves ordinary text, emoji and right-to-left letters alone', () => {
      const text = 'Flux portrait v3 · ~$0.29 — 🎨 صورة 日本語';
      assert.equal(printableText(text), text);
    });

    it('applied to JSON text gives JSON with the same value', () => {
      const value = { name: 'x\u009b\u202e\\\u2066"\u007f', list: ['\\', '\\\u200f'] };
      const text = printableText(JSON.stringify(value, null, 2), 'layout');
      assert.ok(![...text].some((c) => c !== '\n' && steering.includes(c)));
      assert.deepEqual(JSON.parse(text), value);
    });
  });

  describe('markdownText', () => {
    it('escapes links, images, autolinks, HTML and code so they render as the text they are', () => {
      const hostile = '[x](command:runcomfy.stopMachine) ![](http://evil.test/p.png) <img src=x onerror=alert(1)> `code` https://evil.test *b* | cell';
      const md = markdownText(hostile);
      assert.equal(
        md,
        '\\[x\\]\\(command\\:runcomfy\\.stopMachine\\) \\!\\[\\]\\(http\\:\\/\\/evil\\.test\\/p\\.png\\) \\<img src\\=x onerror\\=alert\\(1\\)\\> \\`code\\` https\\:\\/\\/evil\\.test \\*b\\* \\| cell',
      );
      // Removing the backslashes gives back the text: every escape is of one punctuation character.
      assert.equal(md.replace(/\\(.)/g, '$1'), hostile);
    });

    it('puts a field on one line and escapes its controls', () => {
      assert.equal(markdownText('a\r\nb\n\u202ec'), 'a b \\\\u202ec');
    });
  });
});
