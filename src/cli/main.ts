#!/usr/bin/env node
/** The `general-socket` process: runs one command line with this process's stdio and environment. */
import { run } from './commands.js';

const io = {
  env: process.env,
  // Lazily: opening stdin for commands that never read it could hold a terminal or a pipe open.
  get stdin() {
    return process.stdin;
  },
  stdout: process.stdout,
  stderr: process.stderr,
};

run(process.argv.slice(2), io).then(
  (code) => {
    // `serve` keeps running; every other command ends here.
    if (code !== -1) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`general-socket: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
