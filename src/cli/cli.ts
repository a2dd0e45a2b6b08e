import { parseArgs, type ParseArgsConfig } from 'node:util';
import { redact } from '../api/redact';
import { printableText } from '../base/untrustedText';
import { ExitCode, UsageError, exitCodeFor } from './exitCodes';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Where the CLI reads its environment and writes its output; injected so tests can run it in-process. */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** What every command receives. */
export interface CliContext extends CliIo {
  /** `--json`: machine-readable JSON on stdout. */
  readonly json: boolean;
  /** Aborted on Ctrl-C / SIGTERM. */
  readonly signal: AbortSignal;
  /** Prints a progress line on stderr (never on stdout, which belongs to results). */
  readonly progress: (line: string) => void;
}

/** One subcommand. `options` adds flags to the global ones. */
export interface CliCommand {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly options?: OptionsConfig;
  /** More about the command and its options, for `runcomfy <command> --help`. */
  readonly help?: string;
  run(ctx: CliContext, args: readonly string[], values: OptionValues): Promise<number>;
}

/** Flags every command accepts, before or after the command name. */
export const globalOptions: OptionsConfig = {
  json: { type: 'boolean' },
  'api-url': { type: 'string' },
  'user-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export function helpText(commands: readonly CliCommand[]): string {
  const width = Math.min(Math.max(...commands.map((c) => c.usage.length), 10), 40);
  // A usage too long for the column gets its summary on the next line, so the table stays narrow.
  const entry = (usage: string, summary: string) =>
    usage.length > width ? `  ${usage}\n  ${''.padEnd(width)}  ${summary}` : `  ${usage.padEnd(width)}  ${summary}`;
  return [
    'runcomfy: run ComfyUI workflows on RunComfy machines from a shell.',
    '',
    'Usage: runcomfy <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => entry(c.usage, c.summary)),
    entry('help', 'Show this help.'),
    '',
    'Global options: --json (JSON on stdout), --api-url URL, --user-id ID',
    'Environment: RUNCOMFY_TOKEN (required; never a flag), RUNCOMFY_USER_ID, RUNCOMFY_API_URL (default https://api.runcomfy.net),',
    '             RUNCOMFY_POLL_INTERVAL (seconds between status checks of --wait; default 3),',
    '             RUNCOMFY_CACHE_DIR (where the rate-limit state shared by your runs lives; default the OS cache folder),',
    '             HTTPS_PROXY, HTTP_PROXY, NO_PROXY (an http(s) proxy for every request, the websocket too; lowercase wins)',
    'Rate limit: RunComfy allows one request per second per account. All runcomfy processes and editor windows of',
    '            an account share that allowance; when RunComfy still says 429, a command retries for 60 s (or its',
    '            --timeout) and says so on stderr, then exits 5. A stop is retried until it lands.',
    'Exit codes: 0 ok, 1 other, 2 usage, 3 auth, 4 not found, 5 rate limited or timed out, 6 server or network,',
    '            7 workflow rejected, 8 execution error, 9 interrupted, 10 the budget ended a sweep',
    '',
  ].join('\n');
}

/**
 * Parses `argv`, runs the command and returns the exit code. Errors become one line on stderr.
 * Everything printed passes one writer: the token from the environment is scrubbed, and control and
 * text-direction characters (from a machine, a workflow, an error the server sent) are escaped, so
 * no output can steer the terminal. `--json` output stays equivalent JSON (see `printableText`).
 */
export async function runCli(
  argv: readonly string[],
  commands: readonly CliCommand[],
  io: CliIo = processIo(),
  signal = interruptSignal(),
): Promise<number> {
  const secrets = [io.env.RUNCOMFY_TOKEN];
  const safe = (t: string) => printableText(redact(t, secrets), 'layout');
  const safeIo: CliIo = {
    env: io.env,
    stdout: (t) => io.stdout(safe(t)),
    stderr: (t) => io.stderr(safe(t)),
  };
  try {
    const name = argv.find((a) => !a.startsWith('-'));
    if (!name || name === 'help') {
      safeIo.stdout(helpText(commands));
      return name || argv.some((a) => a === '--help' || a === '-h') ? ExitCode.ok : ExitCode.usage;
    }
    const command = commands.find((c) => c.name === name);
    if (!command) throw new UsageError(`Unknown command "${name}". Run "runcomfy help" for the list.`);
    const { values, positionals } = parse(argv, command);
    if (values.help) {
      safeIo.stdout(`Usage: runcomfy ${command.usage}\n${command.summary}\n${command.help ? `\n${command.help}\n` : ''}`);
      return ExitCode.ok;
    }
    const ctx: CliContext = {
      ...safeIo,
      json: values.json === true,
      signal,
      progress: (line) => safeIo.stderr(`${line}\n`),
    };
    // Timers below the CLI are unref'd (they must never hold the extension host open), so a command
    // that is only waiting (polling, backing off) would let Node exit with exit code 0 mid-command.
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      return await command.run(ctx, positionals.slice(1), values);
    } finally {
      clearInterval(keepAlive);
    }
  } catch (e) {
    safeIo.stderr(`runcomfy: ${e instanceof Error ? e.message : String(e)}\n`);
    return exitCodeFor(e);
  }
}

function parse(argv: readonly string[], command: CliCommand) {
  try {
    return parseArgs({
      args: [...argv],
      options: { ...globalOptions, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/\. To specify a positional.*$/s, '.')} Usage: runcomfy ${command.usage}`);
  }
}

function processIo(): CliIo {
  return {
    env: process.env,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  };
}

/** Aborts on the first Ctrl-C or SIGTERM so commands can clean up (interrupt a run, report); a second one exits. */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    controller.abort(new Error(`Interrupted by ${sig}.`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}
