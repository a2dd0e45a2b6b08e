import { runCli, type CliCommand } from './cli';

/** Every command, in the order `runcomfy help` lists them. */
const commands: CliCommand[] = [];

void runCli(process.argv.slice(2), commands).then((code) => {
  process.exitCode = code;
});
