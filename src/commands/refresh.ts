import { type Services } from './services';

/** Refresh: the machine list, the workflows and the queue sizes, now. */
export async function refresh(services: Services): Promise<void> {
  const account = services.accounts.requireAccount();
  await Promise.all([account.machines.refresh(), account.workflows.load()]);
}
