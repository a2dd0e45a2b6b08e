import { runCli, type CliCommand } from './cli';
import { convertCommand } from './convertCommand';
import { machineCommands } from './machineCommands';
import { mcpCommand } from './mcpCommand';
import { queueCommand } from './queueCommand';
import { sweepCommand } from './sweepCommand';

/** Every command, in the order `runcomfy help` lists them. */
const commands: CliCommand[] = [...machineCommands, queueCommand, sweepCommand, convertCommand, mcpCommand];

void runCli(process.argv.slice(2), commands).then((code) => {
  process.exitCode = code;
});
