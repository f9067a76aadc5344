// TEMPORARY (development only, removed before merge): an in-memory UserStreams.
import { newEpoch, type Append, type Appended, type StreamHead, type StreamPage, type UserStreams } from '../../src/streams/streams.js';

export function memoryStreams(size: number): UserStreams {
  const streams = new Map<string, { epoch: string; seq: number; entries: { seq: number; event: string; data: unknown; time: number }[] }>();
  const get = (userId: string) => {
    const s = streams.get(userId) ?? { epoch: newEpoch(), seq: 0, entries: [] };
    streams.set(userId, s);
    return s;
  };
  const headOf = (s: { epoch: string; seq: number; entries: { seq: number }[] }): StreamHead => ({
    epoch: s.epoch,
    seq: s.seq,
    oldest: s.entries[0]?.seq ?? s.seq + 1,
  });
  return {
    description: 'memory',
    async append(items: readonly Append[]): Promise<readonly Appended[]> {
      await new Promise((r) => setImmediate(r));
      return items.map(({ userId, event, data }) => {
        const s = get(userId);
        s.seq++;
        s.entries.push({ seq: s.seq, event, data: JSON.parse(JSON.stringify(data)), time: Date.now() });
        if (s.entries.length > size) s.entries.shift();
        return { epoch: s.epoch, seq: s.seq };
      });
    },
    async head(userId) {
      return headOf(get(userId));
    },
    async read(userId, after, limit): Promise<StreamPage> {
      await new Promise((r) => setImmediate(r));
      const s = get(userId);
      return { ...headOf(s), entries: s.entries.filter((e) => e.seq > after).slice(0, limit) };
    },
    async ping() {},
    async close() {},
    wipe(userId: string) {
      streams.delete(userId);
    },
  } as UserStreams;
}
