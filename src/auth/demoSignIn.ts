import type * as vscode from 'vscode';
import { isLoopbackHost } from '../api/redact';
import { type CredentialStore } from './credentialStore';

/**
 * `npm start` opens VS Code against the simulator and passes the demo account in
 * `RUNCOMFY_DEMO_CREDENTIALS` (`<user id>:<token>`), so a newcomer starts signed in. It applies
 * only while signed out and only when `runcomfy.apiUrl` points at a loopback host: a demo
 * variable can never sign anyone in to the real RunComfy.
 */
export async function demoSignIn(store: CredentialStore, apiUrl: string, log: vscode.LogOutputChannel, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const raw = env.RUNCOMFY_DEMO_CREDENTIALS;
  if (!raw || (await store.get())) return;
  let host: string;
  try {
    host = new URL(apiUrl).hostname;
  } catch {
    return;
  }
  if (!isLoopbackHost(host)) {
    log.warn('RUNCOMFY_DEMO_CREDENTIALS is set but runcomfy.apiUrl is not a loopback address; ignoring it.');
    return;
  }
  const sep = raw.indexOf(':');
  if (sep <= 0) return;
  await store.set({ userId: raw.slice(0, sep), token: raw.slice(sep + 1) });
  log.info(`Signed in to the simulator's demo account (user ${raw.slice(0, sep)}).`);
}
