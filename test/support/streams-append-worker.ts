/**
 * A process that appends to the SQLite streams at `argv[2]` and prints every acknowledged append as
 * `<userId> <epoch>:<seq> <data JSON>`, one line each, once its promise resolved. Stdout to a pipe is
 * synchronous on Linux, so a line the parent reads was acknowledged before anything after it.
 *
 * - `forever`: appends (to u0..u3, and fan-outs to u0..u19) until it is killed (the crash test kills
 *   it with SIGKILL);
 * - `count <n>`: prints `ready` once the file is open, waits for a line on stdin, then appends about n
 *   events to each of u0..u3 (and fan-outs to u0..u19) and exits (two at once act as two WORKERS
 *   sharing the file).
 */
import { createInterface } from 'node:readline';
import { openSqliteStreams } from '../../src/streams/sqlite.js';
import type { Append } from '../../src/streams/streams.js';

const [path, mode, count] = process.argv.slice(2);
if (path === undefined || (mode !== 'forever' && mode !== 'count')) throw new Error('usage: streams-append-worker.ts <path> forever|count <n>');

const USERS = ['u0', 'u1', 'u2', 'u3'];
/** Enough users for a fan-out's own statements (streams/sqlite.ts, MANY_USERS), u0..u3 among them. */
const FANOUT = Array.from({ length: 20 }, (_, i) => `u${i}`);
const streams = openSqliteStreams(path, { size: 10_000, ttlMs: 3_600_000 });

let n = 0;
let calls = 0;
/**
 * One append call: an event for each of three users, as one emit to several users would make, or a
 * fan-out to 20 users (`fanout`; in `count` mode every third call).
 */
async function appendOnce(fanout = mode === 'count' && ++calls % 3 === 0): Promise<void> {
  const users = fanout ? FANOUT : [0, 1, 2].map((k) => USERS[(n + k) % USERS.length]!);
  const items: Append[] = users.map((userId) => ({ userId, event: 'crash-test', data: { n: n++, text: 'ünï ✓' } }));
  const appended = await streams.append(items);
  const lines = items.map((item, i) => `${item.userId} ${appended[i]!.epoch}:${appended[i]!.seq} ${JSON.stringify(item.data)}\n`);
  process.stdout.write(lines.join(''));
}

if (mode === 'forever') {
  // Four calls per turn: they share a group commit. Every other turn holds only fan-outs, which stay
  // in the fan-out log (streams/sqlite-log.ts) until a call of a few users moves them.
  for (let turn = 0; ; turn++) await Promise.all(Array.from({ length: 4 }, () => appendOnce(turn % 2 === 1)));
} else {
  const perUser = Number(count);
  process.stdout.write('ready\n');
  const input = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => input.once('line', () => resolve()));
  // An open stdin would keep the process alive after its work.
  input.close();
  process.stdin.destroy();
  const items = perUser * USERS.length;
  while (n < items) await Promise.all([appendOnce(), appendOnce()]);
  await streams.close();
}
