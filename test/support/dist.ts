/**
 * dist/, the package as `npm run build` makes it, for tests of what users install and start.
 * `npm test` builds it once before every file (its pretest script), so those tests do not build it
 * again each; a test file run on its own builds it here, so it never runs an older build.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Makes sure dist/ holds a build of the current sources. */
export function ensureBuilt(): void {
  // npm names the running script: under `npm test`, pretest has just built dist/.
  if (process.env.npm_lifecycle_event === 'test') return;
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * The built gateway entry (dist/main.js, what `npm start` runs), for tests that run the gateway as
 * a process: it starts with plain node, which costs about half the CPU of loading the sources through tsx.
 */
export function builtMain(): string {
  ensureBuilt();
  return join(ROOT, 'dist', 'main.js');
}
