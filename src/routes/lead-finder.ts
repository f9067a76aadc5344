/** The lead-finder route: an event to one scraper socket, or 404 when that worker is gone. */
import { toScraper, type DeliveryReport, type Emitter } from '../emitter.js';
import { fail, type GatewayError } from '../errors.js';
import { SCRAPERS_NAMESPACE } from '../namespaces.js';
import type { Handlers } from './register.js';
import { successReply } from './reply.js';

/**
 * Why an event to scraper socket `socketId` reached no socket, or undefined when it reached one.
 * `sockets` is what the event reached; `report` says whether every node answered.
 */
export function scraperMissed(
  sockets: number,
  report: Pick<DeliveryReport, 'partial' | 'unconfirmed'>,
  socketId: string,
  namespace: string,
): GatewayError | undefined {
  if (sockets > 0) return undefined;
  if (report.unconfirmed) {
    // A retry could deliver the task twice: the node holding the socket may have sent it.
    return fail(
      'DELIVERY_UNCONFIRMED',
      `Scraper socket "${socketId}" is not connected to this gateway node, and not every other node answered in time: the task may or may not have been delivered`,
    );
  }
  if (report.partial) {
    return fail(
      'SERVICE_UNAVAILABLE',
      `Scraper socket "${socketId}" is not connected to this gateway node, and the other nodes could not be asked (cluster bus down); nothing was sent, retry`,
      { 'retry-after': '1' },
    );
  }
  return fail('NOT_FOUND', `No scraper socket "${socketId}" is connected to ${namespace}; it may have disconnected`);
}

/** Handler of `POST /lead-finder/:event`. */
/** `namespace` is where the workers connect (LEAD_FINDER_NAMESPACE). */
export function leadFinderHandlers({ emitter, namespace = SCRAPERS_NAMESPACE }: { emitter: Emitter; namespace?: string }): Pick<Handlers, 'emitToScraper'> {
  return {
    emitToScraper: async (request) => {
      const { socketId, payload } = request.body;
      const report = await emitter.send([{ audience: toScraper(socketId), event: request.params.event, data: payload }]);
      const missed = scraperMissed(report.sockets, report, socketId, namespace);
      if (missed !== undefined) throw missed;
      return successReply(report);
    },
  };
}
