/**
 * A cluster worker that sends its primary three messages in one turn, a message nested too deep
 * among them, then reports what its primary sent back (ipc-turns.test.ts).
 */
import { guardPrimaryChannel, MAX_IPC_DEPTH } from '../../src/cluster/ipc-guard.js';
import { sendToPrimary, unpackTurns } from '../../src/cluster/ipc-turns.js';

guardPrimaryChannel();
unpackTurns();
const received: unknown[] = [];
const outcomes: (string | null)[] = [];
// Once every send was settled and every echo came: both reports in one turn, then leave.
const finish = (): void => {
  if (received.length < 3 || outcomes.length < 4) return;
  sendToPrimary({ gs: 'outcomes', outcomes });
  sendToPrimary({ gs: 'received', received }, () => process.disconnect());
};
process.on('message', (message: { gs?: string }) => {
  if (message?.gs !== 'echo') return;
  received.push(message);
  finish();
});
let deep: unknown = 'bottom';
for (let level = 0; level < MAX_IPC_DEPTH; level++) deep = { a: deep };
const sent = (error: Error | undefined): void => {
  outcomes.push(error?.message ?? null);
  finish();
};
sendToPrimary({ gs: 'one', n: 1 }, sent);
sendToPrimary({ gs: 'deep', deep }, sent);
sendToPrimary({ gs: 'two', n: 2 }, sent);
sendToPrimary({ gs: 'three', n: 3 }, sent);
