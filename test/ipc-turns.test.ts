/**
 * WORKERS: the gateway's messages between the primary and a worker go out a turn's at a time
 * (src/cluster/ipc-turns.ts). Each must still arrive once, in the order sent, to the listeners that
 * read it alone; a message the primary's channel must refuse is refused alone, and its turn's others
 * arrive. The test process is the primary of a real worker.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { MAX_IPC_DEPTH } from '../src/cluster/ipc-guard.js';
import { sendToWorker, unpackTurns } from '../src/cluster/ipc-turns.js';

describe('a turn of messages between the primary and a worker', () => {
  it('arrives in one write, each message once and in order, and a message nested too deep is refused alone', async () => {
    unpackTurns();
    cluster.setupPrimary({
      exec: new URL('./support/ipc-turns-worker.ts', import.meta.url).pathname,
      execArgv: ['--import', 'tsx'],
      serialization: 'advanced',
      silent: true,
    });
    const worker: Worker = cluster.fork();
    let stderr = '';
    worker.process.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const writes: unknown[] = [];
    const messages: { gs: string }[] = [];
    worker.process.on('message', (raw: unknown) => writes.push(raw));
    worker.on('message', (message: { gs: string }) => {
      if (message?.gs === 'turn') return;
      messages.push(message);
      // Sent back in one turn of this process: the worker must read all three, in order.
      if (message.gs === 'three') for (const n of [1, 2, 3]) sendToWorker(worker, { gs: 'echo', n });
    });
    const code = await new Promise((resolve) => worker.process.once('exit', resolve));
    assert.equal(code, 0, stderr);

    const gs = messages.map((message) => message.gs);
    assert.deepEqual(gs, ['one', 'two', 'three', 'outcomes', 'received']);
    assert.deepEqual(messages.slice(0, 3), [
      { gs: 'one', n: 1 },
      { gs: 'two', n: 2 },
      { gs: 'three', n: 3 },
    ]);
    // The deep one was refused at once, before its turn was written; the others once written.
    assert.deepEqual(messages[3], {
      gs: 'outcomes',
      outcomes: [`a message to the primary process nests deeper than ${MAX_IPC_DEPTH} levels; it was not sent`, null, null, null],
    });
    assert.deepEqual(messages[4], {
      gs: 'received',
      received: [
        { gs: 'echo', n: 1 },
        { gs: 'echo', n: 2 },
        { gs: 'echo', n: 3 },
      ],
    });
    // One, two and three were one write on the channel, not three.
    assert.equal((writes[0] as { gs: string; messages: unknown[] }).gs, 'turn');
    assert.equal((writes[0] as { messages: unknown[] }).messages.length, 3);
    assert.match(stderr, /GENERAL_SOCKET_IPC_DEPTH/);
  });
});
