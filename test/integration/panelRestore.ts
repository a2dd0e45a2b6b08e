// What the two loads of the restore phase share (scripts/run-host-tests.mjs reloads the window between
// runPanelRestore.beforeReload.test.js and runPanelRestore.afterReload.test.js).
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { workspaceFile } from './helpers';

/** What `runcomfy.test.panel` returns, as far as these tests read it. */
export interface PanelSnapshot {
  open: boolean;
  restored: boolean;
  showing?: { kind: string; runId?: string; runDir?: string };
  view?: { kind: string; title?: string; message?: string };
  rendered?: { type: 'rendered'; view: string; status: string; outputs: number; preview: boolean };
  received: string[];
}

export const panel = (): Promise<PanelSnapshot> => Promise.resolve(vscode.commands.executeCommand<PanelSnapshot>('runcomfy.test.panel'));
export const fromWebview = (message: unknown): Promise<unknown> => Promise.resolve(vscode.commands.executeCommand('runcomfy.test.panelMessage', message));

/** A 1×1 PNG: the run's one output. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/** The past run the first load opens and the second expects back: under the default output folder, as an earlier session left it. */
export function restoreRunDir(): string {
  return workspaceFile('runcomfy-outputs', 'restore-flow', '20261203-120000-restore1').fsPath;
}

/** Writes that run folder: its run.json (as outputSaver writes it) and its image. */
export function writeRestoreRun(): string {
  const dir = restoreRunDir();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'ComfyUI_00001_.png'), PNG);
  const record = {
    version: 1,
    promptId: 'restore1-0000-4000-8000-000000000001',
    server: 'http://127.0.0.1:8188/',
    workflowHash: '0'.repeat(64),
    prompt: { '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI' }, _meta: { title: 'Save' } } },
    uploads: [],
    timings: { queued: '2026-12-03T12:00:00.000Z', started: '2026-12-03T12:00:01.000Z', finished: '2026-12-03T12:00:31.000Z', phases: { execute: 30000 } },
    status: 'success',
    outputs: [{ node: '9', filename: 'ComfyUI_00001_.png', subfolder: '', type: 'output', path: 'ComfyUI_00001_.png' }],
    files: [{ path: 'ComfyUI_00001_.png', node: '9', kind: 'images', bytes: PNG.byteLength }],
    warnings: [],
  };
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify(record, null, 2));
  return dir;
}
