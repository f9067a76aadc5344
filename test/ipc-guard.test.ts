/**
 * The WORKERS primary reads worker messages with Node's IPC deserialiser, which throws out of reach
 * of any handler on a message nested ~2,000 levels deep, ending the primary and every worker. A
 * worker's guarded channel never sends one. The test process is the primary here: without the guard
 * it is the one that would crash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { MAX_IPC_DEPTH } from '../src/cluster/ipc-guard.js';

describe('the channel from a worker to the primary', () => {
  it(`drops a message nested deeper than ${MAX_IPC_DEPTH} levels, tells its sender, and carries the next one`, async () => {
    const child = fork(new URL('./support/deep-ipc-worker.ts', import.meta.url), ['--guard'], {
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const received: { kind: string; error?: string | null }[] = [];
    child.on('message', (message: { kind: string; error?: string | null }) => received.push(message));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.deepEqual(received, [{ kind: 'after', error: `a message to the primary process nests deeper than ${MAX_IPC_DEPTH} levels; it was not sent` }]);
    assert.match(stderr, /GENERAL_SOCKET_IPC_DEPTH/);
  });
});
