/**
 * The batch route: many events, each to its own audience. Every item is checked first, each against
 * the same rules as the single emits (and with the same sentences); the valid ones then go out in one
 * `emitter.send`, which costs a cluster one round of messages for the whole batch. An invalid item,
 * or a scraper socket that is gone, is that item's error in the results: the others are not affected.
 */
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';
import type { BatchReply } from '../api/batch.js';
import { EventName, Id } from '../api/common.js';
import { UserIdList } from '../api/emit.js';
import { toScraper, toUsers, type Delivery, type DeliveryReport, type Emitter } from '../emitter.js';
import { GatewayError, fail } from '../errors.js';
import { assertEventAllowed } from '../http/access.js';
import { SCRAPERS_NAMESPACE } from '../namespaces.js';
import { scraperMissed } from './lead-finder.js';
import type { Handlers } from './register.js';

/** What the batch route is built from. */
export interface BatchRoutesOptions {
  readonly emitter: Emitter;
  /** Most items per call (BATCH_MAX_ITEMS). */
  readonly maxItems: number;
  /** Most user ids one item may name (EMIT_MAX_USER_IDS, as for `POST /emit/:emitTo`). */
  readonly maxUserIds: number;
  /** Where scrapers connect (LEAD_FINDER_NAMESPACE), for the message of an item whose socket is gone. */
  readonly namespace?: string;
}

const AUDIENCES = ['userId', 'userIds', 'socketId'] as const;
const FIELDS: ReadonlySet<string> = new Set([...AUDIENCES, 'event', 'data']);

/** The sentence a schema's `x-error` gives its failures (api/common.ts). */
const sentence = (schema: TSchema): string => (schema as { 'x-error'?: string })['x-error'] ?? 'is invalid';

/** The delivery an item asks for, or why it cannot be sent; `at` names it (`body.items[3]`). */
function check(item: unknown, at: string, maxUserIds: number, allowed: (event: string) => GatewayError | undefined): Delivery | GatewayError {
  const refuse = (message: string): GatewayError => fail('VALIDATION_ERROR', message);
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return refuse(`${at} must be an object { userId | userIds | socketId, event, data }`);
  const fields = item as Record<string, unknown>;
  const unknown = Object.keys(fields).find((name) => !FIELDS.has(name));
  if (unknown !== undefined) return refuse(`${at} has an unknown property "${unknown}"`);
  const named = AUDIENCES.filter((name) => fields[name] !== undefined);
  if (named.length !== 1) {
    return refuse(`${at} must name exactly one audience, userId, userIds or socketId; it names ${named.length === 0 ? 'none' : named.join(' and ')}`);
  }
  if (fields.event === undefined) return refuse(`${at}.event is required`);
  if (!Value.Check(EventName, fields.event)) return refuse(`${at}.event ${sentence(EventName)}`);
  if (!('data' in fields)) return refuse(`${at}.data is required (null sends no payload)`);
  const event = fields.event as string;
  const forbidden = allowed(event);
  if (forbidden !== undefined) return forbidden;
  const { data } = fields;

  if (named[0] === 'socketId') {
    if (!Value.Check(Id, fields.socketId)) return refuse(`${at}.socketId ${sentence(Id)}`);
    return { audience: toScraper(fields.socketId as string), event, data };
  }
  if (named[0] === 'userId') {
    if (!Value.Check(Id, fields.userId)) return refuse(`${at}.userId ${sentence(Id)}`);
    return { audience: toUsers(fields.userId as string), event, data };
  }
  if (!Value.Check(UserIdList, fields.userIds)) return refuse(`${at}.userIds ${sentence(UserIdList)}`);
  const audience = toUsers(fields.userIds as string | string[]);
  if (audience.kind === 'users' && audience.userIds.length > maxUserIds) {
    return refuse(`${at}.userIds names ${audience.userIds.length} users; at most ${maxUserIds} are allowed per item (EMIT_MAX_USER_IDS)`);
  }
  return { audience, event, data };
}

/** Handler of `POST /emit/batch`. */
export function batchHandlers({ emitter, maxItems, maxUserIds, namespace = SCRAPERS_NAMESPACE }: BatchRoutesOptions): Pick<Handlers, 'emitBatch'> {
  return {
    emitBatch: async (request, reply) => {
      const { items } = request.body;
      if (items.length > maxItems) {
        throw fail('EMIT_TOO_LARGE', `body.items holds ${items.length} items; one batch may hold at most ${maxItems} (BATCH_MAX_ITEMS)`);
      }
      // A key limited to event-name patterns is held to them item by item: a forbidden event is that item's 403.
      const allowed = (event: string): GatewayError | undefined => {
        try {
          assertEventAllowed(request, event);
          return undefined;
        } catch (error) {
          return error as GatewayError;
        }
      };
      const checked = items.map((item, index) => check(item, `body.items[${index}]`, maxUserIds, allowed));
      // Every item counts, a refused one too: checking it cost the gateway as much as sending.
      await reply.countEmits(items.length);
      const deliveries = checked.filter((entry): entry is Delivery => !(entry instanceof GatewayError));
      // One send for the whole batch: a cluster asks the other nodes once, and the report has one item per delivery.
      const report: DeliveryReport = deliveries.length === 0 ? { sockets: 0, items: [] } : await emitter.send(deliveries);
      let next = 0;
      const results = checked.map((entry, index): BatchReply['results'][number] => {
        if (entry instanceof GatewayError) return entry.toBody();
        const { sockets, positions } = report.items[next++] ?? { sockets: 0 };
        if (entry.audience.kind === 'scraper') {
          const missed = scraperMissed(sockets, report, entry.audience.socketId, namespace);
          if (missed !== undefined) return { ...missed.toBody(), message: `body.items[${index}]: ${missed.message}` };
        }
        return { success: true, sockets, ...(positions !== undefined && { positions }) };
      });
      return {
        success: true,
        message: 'SUCCESS',
        results,
        ...(report.partial && { partial: true }),
        ...(report.unconfirmed && { unconfirmed: true }),
      } as const;
    },
  };
}
