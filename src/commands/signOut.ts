import type * as vscode from 'vscode';
import { type CredentialStore } from '../auth/credentialStore';

/** Forgets the stored credentials. Machines keep running: signing out never stops billing. */
export async function signOut(store: CredentialStore, log: vscode.LogOutputChannel): Promise<void> {
  await store.clear();
  log.info('Signed out.');
}
