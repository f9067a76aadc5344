/** What every CLI command provides, and the error that means "you called it wrong" (exit 2). */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Something a command prints to: a process's stdout or stderr, or a test's buffer. */
export interface Output {
  write(text: string): unknown;
}

/**
 * What a command reads and writes: the process's own environment and streams when run as
 * `general-socket`, a test's when run in-process (so tests need no child process per command).
 */
export interface CommandIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly stdout: Output;
  readonly stderr: Output;
}

/** A CLI command. `run` resolves to the exit code, or -1 when it keeps running (serve). */
export interface Command {
  readonly summary: string;
  readonly help: string;
  run(args: string[], io: CommandIo): Promise<number>;
}

/** A mistake in how the command was called; the CLI prints it with the command's help and exits 2. */
export class UsageError extends Error {}

/** `util.parseArgs` (strict) with its errors turned into usage errors. */
export function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
