import { type Services } from './services';

/** Refresh: the machine list, the workflows and the queue sizes, now. */
export async function refresh(services: Services): Promise<void> {
  const account = services.accounts.requireAccount();
  await Promise.all([account.machines.refresh(), account.workflows.load()]);
}

/**
 * The network settings changed (a proxy fixed, added or removed): the views show what was fetched,
 * or failed to be, the old way; fetch it again. Signed out there is nothing to fetch. A failure
 * shows in the views as any refresh's does, so it is not raised here.
 */
export async function refreshAfterNetworkChange(services: Services): Promise<void> {
  const account = services.accounts.accountOrUndefined;
  if (!account) return;
  await Promise.allSettled([account.machines.refresh(), account.workflows.load()]);
}
