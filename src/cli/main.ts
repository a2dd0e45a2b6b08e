import { runCli, type CliCommand } from './cli';
import { machineCommands } from './machineCommands';
import { queueCommand } from './queueCommand';

/** Every command, in the order `runcomfy help` lists them. */
const commands: CliCommand[] = [...machineCommands, queueCommand];

void runCli(process.argv.slice(2), commands).then((code) => {
  process.exitCode = code;
});
