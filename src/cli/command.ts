/** What every CLI command provides, and the error that means "you called it wrong" (exit 2). */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A CLI command. `run` resolves to the exit code, or -1 when it keeps running (serve). */
export interface Command {
  readonly summary: string;
  readonly help: string;
  run(args: string[], env: NodeJS.ProcessEnv): Promise<number>;
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
