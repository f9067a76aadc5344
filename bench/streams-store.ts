/**
 * The embedded streams alone (src/streams/sqlite.ts), without sockets or HTTP: fan-outs of one
 * payload to many users, appended as the emitter appends them, and what each delivery costs in CPU
 * and on disk. The fan-out workload says how fast a gateway delivers; this says what its streams
 * write, and gives the same figure whatever else the machine is doing for the bytes.
 *
 *   node --import tsx bench/streams-store.ts
 *   node --import tsx bench/streams-store.ts --pad 2000 --tree ../other-checkout   # another tree's streams, side by side
 *
 * Options: --users (default 10000), --rounds (fan-outs measured, default 30), --prefill (fan-outs
 * appended before, not measured, default 1; 100 or more fills every user's history to HISTORY_SIZE,
 * where each append also trims, as on a gateway that has run for a while),
 * --pad (characters added to the payload, default 0: the benchmark's notification, about 170 bytes),
 * --unicast <n> (instead of fan-outs, each user's event appended by a call of its own, n calls per
 * turn of the event loop, as n emits to one user each arriving together; default 0: fan-outs),
 * --paced <n> (instead, single-user appends at n per second, evenly paced, for --rounds seconds, as
 * the unicast workload's latency phase sends them: reports how long each append waited for its
 * commit, whose tail is the checkpoint thread's RESTART holding the write lock; default 0),
 * --tree (a checkout whose src/streams/sqlite.ts is measured, default this one). One run per process,
 * in a fresh folder; CPU is the process's (the checkpoint thread's included) over the measured
 * fan-outs, bytes are the file and its write-ahead log after the streams are closed.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { openSqliteStreams as OpenSqliteStreams, streamsPath as StreamsPath } from '../src/streams/sqlite.js';
import { integerFlag } from './lib/options.js';
import { percentile } from './lib/stats.js';
import { payload, userIds } from './workloads/workload.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '30' },
    prefill: { type: 'string', default: '1' },
    pad: { type: 'string', default: '0' },
    unicast: { type: 'string', default: '0' },
    paced: { type: 'string', default: '0' },
    tree: { type: 'string', default: new URL('..', import.meta.url).pathname },
  },
});
const users = userIds(integerFlag('users', values.users));
const rounds = integerFlag('rounds', values.rounds);
const prefill = integerFlag('prefill', values.prefill, 0);
const pad = integerFlag('pad', values.pad, 0);
const unicast = integerFlag('unicast', values.unicast, 0);
const paced = integerFlag('paced', values.paced, 0);
const tree = resolve(values.tree);

const store = (await import(pathToFileURL(join(tree, 'src/streams/sqlite.ts')).href)) as {
  openSqliteStreams: typeof OpenSqliteStreams;
  streamsPath: typeof StreamsPath;
};
const folder = mkdtempSync(join(tmpdir(), 'gs-streams-store-'));
const path = store.streamsPath(folder);
// The gateway's defaults: HISTORY_SIZE 100, HISTORY_TTL_SECONDS 24 h.
const streams = store.openSqliteStreams(path, { size: 100, ttlMs: 86_400_000 });
const fanout = async (round: number) => {
  // One object for every user, as a `POST /emit/:event` with many user ids gives the emitter.
  const data = JSON.parse(payload(round, Date.now(), pad)) as unknown;
  if (unicast === 0) return streams.append(users.map((userId) => ({ userId, event: 'bench_fanout', data })));
  for (let first = 0; first < users.length; first += unicast) {
    await Promise.all(users.slice(first, first + unicast).map((userId) => streams.append([{ userId, event: 'bench_unicast', data }])));
  }
};
/** Appends at `paced` per second for `rounds` seconds; each append's wait for its commit, in ms. */
const pacedWaits = async (): Promise<number[]> => {
  const data = JSON.parse(payload(0, Date.now(), pad)) as unknown;
  const waits: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  for (let issued = 0; issued < paced * rounds; ) {
    const due = Math.min(paced * rounds, Math.floor(((performance.now() - started) * paced) / 1000));
    for (; issued < due; issued++) {
      const at = performance.now();
      pending.push(
        streams.append([{ userId: users[issued % users.length] as string, event: 'bench_paced', data }]).then(() => void waits.push(performance.now() - at)),
      );
    }
    await new Promise((tick) => setTimeout(tick, 1));
  }
  await Promise.all(pending);
  return waits;
};
try {
  for (let round = -prefill; round < 0; round++) await fanout(round);
  if (paced > 0) await measurePaced();
  else await measureFanouts();
} finally {
  rmSync(folder, { recursive: true, force: true });
}

async function measurePaced(): Promise<void> {
  const waits = await pacedWaits();
  await streams.close();
  const at = (p: number): number => Number(percentile(waits, p).toFixed(2));
  console.log(
    JSON.stringify({
      tree,
      users: users.length,
      perSecond: paced,
      seconds: rounds,
      appends: waits.length,
      waitMs: { p50: at(50), p99: at(99), p999: at(99.9), max: at(100) },
    }),
  );
}

async function measureFanouts(): Promise<void> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let round = 0; round < rounds; round++) await fanout(round);
  // A read moves fan-outs still in the log into the index (streams/sqlite-log.ts): measured with the rest.
  await streams.head(users[0] as string);
  const used = process.cpuUsage(cpu);
  const ms = performance.now() - started;
  await streams.close();
  const bytes = statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
  const deliveries = users.length * rounds;
  console.log(
    JSON.stringify({
      tree,
      users: users.length,
      rounds,
      prefill,
      payloadBytes: payload(0, Date.now(), pad).length,
      cpuUsPerDelivery: Number(((used.user + used.system) / deliveries).toFixed(2)),
      wallUsPerDelivery: Number(((ms * 1000) / deliveries).toFixed(2)),
      // Every fan-out on disk, the unmeasured ones too (what the size has not trimmed yet).
      bytesPerDelivery: Number((bytes / (users.length * (rounds + prefill))).toFixed(1)),
    }),
  );
}
