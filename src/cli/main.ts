#!/usr/bin/env node
/**
 * The `general-socket` command line. Each command lives in its own module and exports a `Command`;
 * this file only dispatches. Exit codes: 0 success, 1 rejected request or failure, 2 usage error.
 */
import { config } from './config.js';
import { conversation, message } from './conversations.js';
import { emit } from './emit.js';
import { errors } from './errors.js';
import { importCommand } from './import.js';
import { serve } from './serve.js';
import { status } from './status.js';
import { token } from './token.js';
import { UsageError, type Command } from './command.js';

const commands: Record<string, Command> = { serve, token, config, errors, emit, message, conversation, status, import: importCommand };

function help(): string {
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(14)}${command.summary}`);
  return `Usage: general-socket <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "general-socket <command> --help" for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`general-socket: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help);
    return 0;
  }
  try {
    return await command.run(rest, process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      // The usage lines only: a long help would push the error itself off the screen.
      const usage = command.help.split('\n\n')[0];
      process.stderr.write(`general-socket ${name}: ${error.message}\n\n${usage}\n\nRun "general-socket ${name} --help" for details.\n`);
      return 2;
    }
    process.stderr.write(`general-socket ${name}: ${(error as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // `serve` keeps running; every other command ends here.
    if (code !== -1) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`general-socket: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
