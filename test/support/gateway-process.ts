/** Gateways as processes (dist/main.js), for the tests where the process is what is tested: kill -9, restarts. */
import { spawn, type ChildProcess } from 'node:child_process';
import { builtMain } from './dist.js';

/** A gateway process, listening. */
export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** What it has logged: everything until it listened, then the last 32 KB (for a failing test's message). */
  output(): string;
}

/**
 * Starts dist/main.js with `env` (compose it with gatewayEnv) and resolves once it logs that it
 * listens. Its log is kept at info, where that line is; a start that fails rejects with its output.
 */
export function spawnGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [builtMain()], { env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let listening = false;
  return new Promise((resolve, reject) => {
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      // After it listens only the tail is kept: a long-running gateway must not grow the test's memory.
      if (listening) {
        if (output.length > 64 * 1024) output = output.slice(-32 * 1024);
        return;
      }
      const line = /"port":(\d+)[^\n]*general-socket listening on/.exec(output);
      if (line === null) return;
      listening = true;
      const port = Number(line[1]);
      resolve({ child, port, url: `http://127.0.0.1:${port}`, output: () => output });
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code} before listening:\n${output}`)));
  });
}

/** Resolves once `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
