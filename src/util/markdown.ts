import * as vscode from 'vscode';

/**
 * Markdown from `lines` of our own syntax; every piece of server text in them must have passed
 * `markdownText`, so it renders as text, never as a link, an image or HTML.
 */
export function plainMarkdown(lines: readonly string[]): vscode.MarkdownString {
  const md = new vscode.MarkdownString(lines.join('\n'));
  md.supportHtml = false;
  md.isTrusted = false;
  md.supportThemeIcons = false;
  return md;
}
