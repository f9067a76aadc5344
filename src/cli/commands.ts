/**
 * The `general-socket` commands and `run`, which dispatches argv to them. Each command lives in its
 * own module and exports a `Command`. Exit codes: 0 success, 1 rejected request or failure, 2 usage
 * error. `run` touches no process state, so tests call it in-process with their own stdio and env;
 * main.ts is the thin process entry around it.
 */
import { emitBatch } from './batch.js';
import { config } from './config.js';
import { conversation, message } from './conversations.js';
import { emit } from './emit.js';
import { errors } from './errors.js';
import { history } from './history.js';
import { importCommand } from './import.js';
import { disconnect, presence } from './presence.js';
import { revoke } from './revoke.js';
import { serve } from './serve.js';
import { status } from './status.js';
import { token } from './token.js';
import { UsageError, type Command, type CommandIo } from './command.js';

const commands: Record<string, Command> = {
  serve,
  token,
  config,
  errors,
  emit,
  'emit-batch': emitBatch,
  message,
  conversation,
  history,
  presence,
  disconnect,
  status,
  revoke,
  import: importCommand,
};

function help(): string {
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(14)}${command.summary}`);
  return `Usage: general-socket <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "general-socket <command> --help" for a command's options.\n`;
}

/** Runs one command line; resolves to the exit code, or -1 when the command keeps running (serve). */
export async function run(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(help());
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    io.stderr.write(`general-socket: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      // The usage lines only: a long help would push the error itself off the screen.
      const usage = command.help.split('\n\n')[0];
      io.stderr.write(`general-socket ${name}: ${error.message}\n\n${usage}\n\nRun "general-socket ${name} --help" for details.\n`);
      return 2;
    }
    io.stderr.write(`general-socket ${name}: ${(error as Error).message}\n`);
    return 1;
  }
}
