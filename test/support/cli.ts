/**
 * Runs `general-socket` command lines: in this process through `run(argv, io)` with an environment
 * and stdio of their own (fast: no process per command), or as a real process where the process
 * itself is what a test checks (exit code, a piped stdin).
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/commands.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a command line did. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command line in-process. Its environment holds only `env`, so a developer's own
 * INTERNAL_API_KEY or GENERAL_SOCKET_URL cannot leak into a test. `input` becomes stdin (otherwise
 * stdin is empty, as from /dev/null).
 */
export async function cli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    env: { ...env },
    stdin: Readable.from(input === undefined ? [] : [Buffer.from(input)]),
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

/** Runs a command line as the real `general-socket` process (src/cli/main.ts), with only PATH and `env`. */
export function cliProcess(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}
