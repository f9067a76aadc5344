/**
 * The streams in Redis, for a cluster (REDIS_URL): every node appends to and reads from the same
 * streams.
 *
 * Per user, two keys that share a hash tag (one Redis Cluster slot): a hash
 * `<prefix>:stream-meta:{<userId>}` holding the epoch and the last seq, and a Redis Stream
 * `<prefix>:stream:{<userId>}` holding the events, each under the explicit id `<seq>-1`. Why:
 * - Seqs are contiguous and counted by Redis itself (HINCRBY), so a reader that holds seq 41 and
 *   finds the oldest kept event at 45 knows exactly that it missed 42 to 44: gap detection is exact,
 *   whichever node appended. Redis's own time-based ids could not say that anything is missing.
 * - The epoch is created with the meta hash, so a wipe is never silent: Redis restarted empty, the
 *   keys expired, or `maxmemory-policy volatile-*` (or `allkeys-*`) evicted them, the next call
 *   starts a new epoch and every client holding a position of the old one is told it has a gap. An
 *   evicted stream whose meta survived moves `oldest` past what readers hold: a gap again, never
 *   silent loss. Under `noeviction` a full Redis refuses the append, which the REST call answers 503.
 * - Memory stays bounded: each XADD trims the stream to `size` (MAXLEN), reads trim the events
 *   older than the ttl from its front, and both keys expire after the ttl without an append or a
 *   read, so idle users cost nothing.
 * - Each call is one Lua script per user (EVALSHA; the time is Redis's, one clock for every node):
 *   creating the epoch, counting, appending and refreshing the ttl happen atomically.
 *
 * The connection is our own and fails fast (no offline queue, a command timeout): an emit during a
 * Redis outage is refused within `timeoutMs` with StreamsUnavailableError, never left waiting. An
 * append also carries a deadline that Redis checks on its own clock (half that timeout), so an append
 * refused here is not written there later by a Redis that was only frozen.
 */
import type { Redis } from 'ioredis';
import { commandConnection, firstReady } from '../cluster/command-connection.js';
import { redactUrl } from '../secrets.js';
import {
  StreamsUnavailableError,
  newEpoch,
  serializePayloads,
  type Appended,
  type StreamEntry,
  type StreamHead,
  type StreamLimits,
  type StreamPage,
  type UserStreams,
} from './streams.js';

/** Where the streams report their connection (pino-compatible). */
export interface RedisStreamsLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** How to reach Redis, and what to keep. */
export interface RedisStreamsOptions {
  readonly url: string;
  /** Key prefix (REDIS_PREFIX). */
  readonly prefix: string;
  readonly limits: StreamLimits;
  /** Bound on connecting and on each command, in milliseconds. */
  readonly timeoutMs: number;
  readonly log: RedisStreamsLog;
}

/**
 * The start of every script: the time, and the stream's epoch, created (with the stale stream
 * deleted) when the meta hash is missing. KEYS[1] the stream, KEYS[2] the meta hash; ARGV[1] a fresh
 * epoch, ARGV[2] the ttl in milliseconds.
 */
const OPEN = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
local cutoff = now - ttl
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'seq', 0)
end
local function seqOf(id)
  return tonumber(string.match(id, '^(%d+)-'))
end
-- Trims the events older than the ttl from the front; the first seq kept, or last + 1.
local function oldest(last)
  while true do
    local batch = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
    if #batch == 0 then return last + 1 end
    for _, entry in ipairs(batch) do
      -- fields: 't', time, 'e', event, 'd', data
      if tonumber(entry[2][2]) > cutoff then
        redis.call('XTRIM', KEYS[1], 'MINID', entry[1])
        return seqOf(entry[1])
      end
    end
    redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-2', seqOf(batch[#batch][1])))
  end
end
local function keep()
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
`;

/**
 * ARGV[3] a deadline on Redis's clock in milliseconds (0: none), ARGV[4] the size, then event and data
 * JSON of each event. Returns { epoch, last seq }, or false, writing nothing, past the deadline.
 */
const APPEND = `
local started = redis.call('TIME')
local deadline = tonumber(ARGV[3])
if deadline > 0 and tonumber(started[1]) * 1000 + math.floor(tonumber(started[2]) / 1000) > deadline then return false end
${OPEN}
local size = tonumber(ARGV[4])
local count = (#ARGV - 4) / 2
local last = redis.call('HINCRBY', KEYS[2], 'seq', count)
local first = last - count + 1
for i = 1, count do
  local seq = first + i - 1
  if seq > last - size then
    redis.call('XADD', KEYS[1], 'MAXLEN', size, string.format('%d-1', seq), 't', now, 'e', ARGV[3 + 2 * i], 'd', ARGV[4 + 2 * i])
  end
end
-- Events older than the ttl are trimmed by head and read (which skip them); MAXLEN bounds them meanwhile.
keep()
return { epoch, last }
`;

/** Returns { epoch, seq, oldest }. */
const HEAD = `${OPEN}
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq'))
local from = oldest(seq)
keep()
return { epoch, seq, from }
`;

/** ARGV[3] the seq to read after, ARGV[4] the most entries. Returns { epoch, seq, oldest, entries }. */
const READ = `${OPEN}
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq'))
local from = oldest(seq)
keep()
local entries = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '(' .. string.format('%d-1', tonumber(ARGV[3])), '+', 'COUNT', tonumber(ARGV[4]))) do
  if tonumber(entry[2][2]) > cutoff then table.insert(entries, entry) end
end
return { epoch, seq, from, entries }
`;

interface StreamCommands {
  gsStreamAppend(stream: string, meta: string, ...args: (string | number)[]): Promise<[string, number] | null>;
  gsStreamHead(stream: string, meta: string, epoch: string, ttlMs: number): Promise<[string, number, number]>;
  gsStreamRead(stream: string, meta: string, epoch: string, ttlMs: number, after: number, limit: number): Promise<[string, number, number, RawEntry[]]>;
}

/** An XRANGE entry: its id and its fields, `t`, `e`, `d`. */
type RawEntry = [string, [string, string, string, string, string, string]];

/** Connects to Redis (waiting at most `timeoutMs`; it is retried in the background after that). */
export async function openRedisStreams(options: RedisStreamsOptions): Promise<UserStreams> {
  const { url, prefix, limits, timeoutMs, log } = options;
  const where = redactUrl(url);
  const redis = commandConnection(url, 'streams', timeoutMs) as Redis & StreamCommands;
  redis.defineCommand('gsStreamAppend', { numberOfKeys: 2, lua: APPEND });
  redis.defineCommand('gsStreamHead', { numberOfKeys: 2, lua: HEAD });
  redis.defineCommand('gsStreamRead', { numberOfKeys: 2, lua: READ });

  let lastError = '';
  let up = false;
  // ioredis reports every failed reconnect as an error event; without a listener it prints them.
  redis.on('error', (error: Error) => {
    lastError = error.message;
  });
  redis.on('ready', () => {
    if (!up) log.info({ redis: where }, 'event streams connected to Redis');
    up = true;
  });
  redis.on('close', () => {
    if (up) log.warn({ redis: where, reason: lastError || undefined }, 'event streams lost Redis: emits answer 503 until it is back');
    up = false;
  });
  // How far Redis's clock is ahead of ours, so that an append carries a deadline Redis itself checks:
  // a script that was sent in time but runs late (Redis frozen, then thawed after this side answered
  // 503) writes nothing, and the 503's "nothing was sent" stays true. Measured at each connection and
  // every minute; until the first measure, appends carry no deadline.
  let clockOffset: number | undefined;
  const measureClock = async (): Promise<void> => {
    // The quickest of three round trips: a slow one (a busy loop, a busy Redis) would skew the midpoint.
    let best: { rtt: number; offset: number } | undefined;
    for (let sample = 0; sample < 3; sample++) {
      const sent = Date.now();
      const [seconds, micros] = await redis.time();
      const received = Date.now();
      const offset = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (sent + received) / 2;
      if (best === undefined || received - sent < best.rtt) best = { rtt: received - sent, offset };
    }
    clockOffset = best?.offset;
  };
  redis.on('ready', () => void measureClock().catch(() => undefined));
  const clock = setInterval(() => {
    if (redis.status === 'ready') measureClock().catch(() => undefined);
  }, 60_000);
  clock.unref();
  // Half the command timeout: a script that starts later is refused by Redis, and one that starts in
  // time has the other half for its answer to come back before this side gives up on it.
  const deadline = (): number => (clockOffset === undefined ? 0 : Math.floor(Date.now() + clockOffset + Math.max(timeoutMs, 100) / 2));

  if (!(await firstReady(redis, timeoutMs))) {
    log.warn({ redis: where, timeoutMs }, 'Redis is not reachable yet for the event streams; emits answer 503 until it is');
  }

  const keys = (userId: string): [string, string] => [`${prefix}:stream:{${userId}}`, `${prefix}:stream-meta:{${userId}}`];
  const { size, ttlMs } = limits;
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      const reason = redis.status === 'ready' ? (error as Error).message : `${redis.status}${lastError ? `: ${lastError}` : ''}`;
      throw new StreamsUnavailableError(`Redis at ${where} is unavailable for the event streams (${reason})`, { cause: error });
    }
  };

  return {
    description: `redis ${where} (keys ${prefix}:stream:{<userId>})`,
    async append(items) {
      const byUser = new Map<string, number[]>();
      items.forEach((item, index) => {
        const indexes = byUser.get(item.userId);
        if (indexes === undefined) byUser.set(item.userId, [index]);
        else indexes.push(index);
      });
      // Serialized first: a payload that is not JSON fails the call before anything is sent.
      const payloads = serializePayloads(items);
      const users = [...byUser].map(([userId, indexes]) => ({ userId, indexes, args: indexes.flatMap((index) => [items[index]!.event, payloads[index]!]) }));
      const results: Appended[] = new Array(items.length);
      // One script per user, all sent at once: ioredis writes them back to back on one connection.
      const calls = users.map(({ userId, indexes, args }) => {
        return redis.gsStreamAppend(...keys(userId), newEpoch(), ttlMs, deadline(), size, ...args).then((appended) => {
          if (appended === null) throw new Error('Redis ran the append past its deadline, so it wrote nothing');
          const [epoch, last] = appended;
          indexes.forEach((index, k) => {
            results[index] = { epoch, seq: Number(last) - indexes.length + 1 + k };
          });
        });
      });
      await guard(() => Promise.all(calls));
      return results;
    },
    head: (userId) =>
      guard(async (): Promise<StreamHead> => {
        const [epoch, seq, oldest] = await redis.gsStreamHead(...keys(userId), newEpoch(), ttlMs);
        return { epoch, seq: Number(seq), oldest: Number(oldest) };
      }),
    read: (userId, after, limit) =>
      guard(async (): Promise<StreamPage> => {
        const [epoch, seq, oldest, raw] = await redis.gsStreamRead(...keys(userId), newEpoch(), ttlMs, after, limit);
        return { epoch, seq: Number(seq), oldest: Number(oldest), entries: raw.map(entryOf) };
      }),
    ping: () => guard(async () => void (await redis.ping())),
    async close() {
      clearInterval(clock);
      // Closing is not losing Redis: nothing to warn about.
      up = false;
      // No QUIT: it would wait for a Redis that may be gone; nothing is pending once requests drained.
      redis.disconnect();
    },
  };
}

function entryOf([id, fields]: RawEntry): StreamEntry {
  return { seq: Number(id.slice(0, id.indexOf('-'))), time: Number(fields[1]), event: fields[3], data: JSON.parse(fields[5]) as unknown };
}
