import * as path from 'node:path';
import * as vscode from 'vscode';
import { assertRealPathInside, OutputLocationError, resolveOutputLocation, type OutputLocation } from '../core/outputLocation';
import { type Services } from './services';
import { UserError } from './userError';

/**
 * Where a workflow's outputs go: `runcomfy.outputDirectory` as set for the workflow's own folder,
 * relative to that workspace folder (or the workflow's folder). A value set by the workspace must stay
 * inside its folder, symlinks resolved; checked before anything is sent, so a refused run costs nothing.
 * @throws UserError naming the setting and the settings file it came from.
 */
export async function outputFolder(services: Services, uri: vscode.Uri): Promise<OutputLocation> {
  const setting = services.config.forResource(uri).outputDirectory;
  try {
    const location = resolveOutputLocation(setting, vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath, path.dirname(uri.fsPath));
    if (location.within) await assertRealPathInside(location.root, location.within, `runcomfy.outputDirectory (${JSON.stringify(setting.value)} in ${setting.where}) leads to`);
    return location;
  } catch (e) {
    if (!(e instanceof OutputLocationError)) throw e;
    throw new UserError(e.message, [{ title: 'Open Settings', command: 'workbench.action.openSettings', args: ['runcomfy.outputDirectory'] }]);
  }
}
