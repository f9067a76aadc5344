/** The presence routes (who is online, cluster-wide) and the disconnect routes. */
import type { DisconnectBody } from '../api/presence.js';
import { fail } from '../errors.js';
import { SCRAPERS_NAMESPACE } from '../namespaces.js';
import type { Notice } from '../presence/disconnect.js';
import type { Presence } from '../presence/presence.js';
import type { Handlers } from './register.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

const unreadable = () =>
  fail('SERVICE_UNAVAILABLE', 'The user directory cannot be read right now (the cluster bus is down); retry', {
    'retry-after': '1',
  });

/** The last event of a disconnect, or none; `data` without `event` would be sent nowhere. */
function noticeOf(body: DisconnectBody): Notice | undefined {
  if (body.event === undefined) {
    if (body.data !== undefined) throw fail('VALIDATION_ERROR', 'body.data is sent as the payload of body.event: give body.event too, or leave both out');
    return undefined;
  }
  return { event: body.event, data: body.data ?? null };
}

export function presenceHandlers({
  presence,
  maxUserIds,
  scraperNamespace = SCRAPERS_NAMESPACE,
}: {
  presence: Presence;
  maxUserIds: number;
  scraperNamespace?: string;
}): Pick<Handlers, 'userPresence' | 'usersPresence' | 'disconnectUser' | 'disconnectScraper'> {
  return {
    userPresence: async (request) => {
      const { userId } = request.params;
      const found = (await presence.users([userId]))?.get(userId);
      if (found === undefined) throw unreadable();
      return { success: true, message: 'SUCCESS', online: found.sockets > 0, sockets: found.sockets, since: iso(found.since) } as const;
    },

    usersPresence: async (request) => {
      const userIds = [...new Set(request.body.userIds)];
      if (userIds.length > maxUserIds) {
        throw fail('VALIDATION_ERROR', `body.userIds names ${userIds.length} users; at most ${maxUserIds} are allowed per call (PRESENCE_MAX_USER_IDS)`);
      }
      const found = await presence.users(userIds);
      if (found === undefined) throw unreadable();
      const online: string[] = [];
      const users: Record<string, { sockets: number; since: string | null }> = {};
      for (const userId of userIds) {
        const entry = found.get(userId);
        if (entry === undefined || entry.sockets === 0) continue;
        online.push(userId);
        users[userId] = { sockets: entry.sockets, since: iso(entry.since) };
      }
      return { success: true, message: 'SUCCESS', online, users } as const;
    },

    disconnectUser: async (request) => {
      const report = await presence.disconnect.user(request.params.userId, noticeOf(request.body));
      return { success: true, message: 'SUCCESS', ...report } as const;
    },

    disconnectScraper: async (request) => {
      const { socketId } = request.params;
      const report = await presence.disconnect.scraper(socketId, noticeOf(request.body));
      if (report.sockets === 0 && report.unconfirmed) {
        throw fail(
          'DELIVERY_UNCONFIRMED',
          `Scraper socket "${socketId}" is not connected to this gateway node, and not every other node answered in time: it may or may not have been disconnected`,
        );
      }
      if (report.sockets === 0 && report.partial) {
        throw fail(
          'SERVICE_UNAVAILABLE',
          `Scraper socket "${socketId}" is not connected to this gateway node, and the other nodes could not be asked (cluster bus down); nothing was done, retry`,
          { 'retry-after': '1' },
        );
      }
      if (report.sockets === 0) throw fail('NOT_FOUND', `No scraper socket "${socketId}" is connected to ${scraperNamespace}; it may have disconnected`);
      return { success: true, message: 'SUCCESS', ...report } as const;
    },
  };
}
