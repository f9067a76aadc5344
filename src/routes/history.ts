/** A user's event history: what the gateway kept for the user, after a position the caller holds. */
import { DEFAULT_HISTORY_LIMIT } from '../api/history.js';
import { fail } from '../errors.js';
import { StreamsUnavailableError, formatPosition, parsePosition, type StreamPage, type UserStreams } from '../streams/streams.js';
import type { Handlers } from './register.js';

/** "The streams are away" is 503 (the caller retries), not 500. */
async function read(work: Promise<StreamPage>): Promise<StreamPage> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof StreamsUnavailableError)) throw error;
    throw fail('SERVICE_UNAVAILABLE', `The event history is unavailable; retry later (${error.message})`, { 'retry-after': '1' });
  }
}

/** Handler of `GET /users/:userId/events`; `streams` is undefined when HISTORY_SIZE is 0. */
export function historyHandlers({ streams }: { streams: UserStreams | undefined }): Pick<Handlers, 'history'> {
  return {
    history: async (request) => {
      if (streams === undefined) {
        throw fail('HISTORY_DISABLED', 'Event history is off: HISTORY_SIZE is 0, so the gateway keeps no events; set HISTORY_SIZE to keep them');
      }
      // The schema's validator drops unknown parameters; a misspelt `limit` must not pass unnoticed.
      const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
      const unknown = [...new URLSearchParams(query).keys()].find((name) => name !== 'since' && name !== 'limit');
      if (unknown !== undefined) throw fail('VALIDATION_ERROR', `query.${unknown.slice(0, 100)} is not a parameter of this route: use since and limit`);
      const { userId } = request.params;
      const { since: sinceText, limit: limitText } = request.query;
      const since = sinceText === undefined ? undefined : parsePosition(sinceText);
      // The schema's pattern lets through a 16-digit seq past 2^53, which is no position either.
      if (sinceText !== undefined && since === undefined) throw fail('VALIDATION_ERROR', `query.since "${sinceText}" is not a position this gateway gave`);
      const limit = limitText === undefined ? DEFAULT_HISTORY_LIMIT : Number(limitText);

      let page = await read(streams.read(userId, since?.seq ?? 0, limit));
      // Missed: the history was reset (another epoch), `since` is ahead of it (a restored backup), or
      // events right after `since` were dropped.
      const gap = since !== undefined && (since.epoch !== page.epoch || since.seq > page.seq || since.seq + 1 < page.oldest);
      // The page already starts at the oldest kept when `since` lies before it; otherwise read from there.
      if (gap && since.seq >= page.oldest) page = await read(streams.read(userId, 0, limit));

      const position = (seq: number) => formatPosition({ epoch: page.epoch, seq });
      return {
        success: true,
        message: 'SUCCESS',
        epoch: page.epoch,
        oldest: page.oldest <= page.seq ? position(page.oldest) : null,
        newest: position(page.seq),
        events: page.entries.map((entry) => ({
          position: position(entry.seq),
          event: entry.event,
          data: entry.data,
          time: new Date(entry.time).toISOString(),
        })),
        ...(gap && { gap: true }),
      } as const;
    },
  };
}
