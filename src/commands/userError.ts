/** A next step offered with an error: a button that runs a command. */
export interface ErrorAction {
  readonly title: string;
  readonly command: string;
  readonly args?: readonly unknown[];
}

/**
 * A problem the user can fix, with the message to show and the buttons that fix it
 * ("No machine is Ready." → "Launch Machine"). The command runner shows it as is.
 */
export class UserError extends Error {
  override readonly name = 'UserError';

  constructor(
    message: string,
    readonly actions: readonly ErrorAction[] = [],
  ) {
    super(message);
  }
}
