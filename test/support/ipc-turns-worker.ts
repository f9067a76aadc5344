/**
 * A cluster worker that sends its primary three messages in one turn, a message nested too deep
 * among them, then reports what its primary sent back (ipc-turns.test.ts).
 */
import { guardPrimaryChannel, MAX_IPC_DEPTH } from '../../src/cluster/ipc-guard.js';
import { sendToPrimary, unpackTurns } from '../../src/cluster/ipc-turns.js';

guardPrimaryChannel();
unpackTurns();
const received: unknown[] = [];
process.on('message', (message: { gs?: string }) => {
  if (message?.gs !== 'echo') return;
  received.push(message);
  if (received.length === 3) process.send!({ gs: 'received', received }, undefined, {}, () => process.disconnect());
});
let deep: unknown = 'bottom';
for (let level = 0; level < MAX_IPC_DEPTH; level++) deep = { a: deep };
const outcomes: (string | null)[] = [];
const sent = (error: Error | undefined): void => {
  outcomes.push(error?.message ?? null);
  if (outcomes.length === 4) sendToPrimary({ gs: 'outcomes', outcomes });
};
sendToPrimary({ gs: 'one', n: 1 }, sent);
sendToPrimary({ gs: 'deep', deep }, sent);
sendToPrimary({ gs: 'two', n: 2 }, sent);
sendToPrimary({ gs: 'three', n: 3 }, sent);
