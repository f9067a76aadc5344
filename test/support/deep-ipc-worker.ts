/**
 * A child process that, as a gateway worker would, guards its channel to the parent and then sends
 * it a message nested far past what the parent's deserialiser can read, then an ordinary one.
 */
import { guardPrimaryChannel } from '../../src/cluster/ipc-guard.js';

if (process.argv.includes('--guard')) guardPrimaryChannel();
let deep: unknown = 'bottom';
for (let level = 0; level < 5000; level++) deep = { a: deep };
process.send!({ kind: 'deep', deep }, undefined, {}, (error: Error | null) => {
  process.send!({ kind: 'after', error: error?.message ?? null }, () => process.disconnect());
});
