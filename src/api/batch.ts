/** Schemas of `POST /emit/batch`: many events, each with its own audience, in one call. */
import { Type, type Static } from 'typebox';
import { AnyJson, EventName, Id } from './common.js';
import { UserIdList } from './emit.js';

const event = EventName;
const data = AnyJson;

/** One item of a batch: one audience (exactly one of `userId`, `userIds`, `socketId`), one event, one payload. */
export const BatchItem = Type.Union(
  [
    Type.Object({ userId: Id, event, data }, { additionalProperties: false, description: 'To every socket of one user.' }),
    Type.Object(
      { userIds: UserIdList, event, data },
      { additionalProperties: false, description: 'To every socket of each listed user (at most EMIT_MAX_USER_IDS).' },
    ),
    Type.Object(
      { socketId: Id, event, data },
      { additionalProperties: false, description: 'To one lead-finder scraper socket; the item fails with NOT_FOUND when it is not connected.' },
    ),
  ],
  { description: 'Exactly one of `userId`, `userIds` or `socketId`, an event name and its payload.' },
);
export type BatchItem = Static<typeof BatchItem>;

const EXAMPLE = {
  items: [
    { userId: '64user1', event: 'notification', data: { title: 'New Lead', lead_id: '64lead1' } },
    { userIds: ['64user2', '64user3'], event: 'notification', data: { title: 'Lead reassigned', lead_id: '64lead2' } },
    { socketId: 'xyz123abc', event: 'scrape_task', data: { task_id: 'task_001', keyword: 'plumber near me' } },
  ],
};

/** One item's result when it was sent. */
const ItemSent = Type.Object(
  {
    success: Type.Literal(true),
    sockets: Type.Integer({ minimum: 0, description: 'Sockets this item was sent to, on every gateway node that answered.' }),
    positions: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'With per-user streams: the position of this event in each recipient’s stream, by user id.' }),
    ),
  },
  { description: 'Sent.' },
);

/** One item's result when it was refused or could not be delivered: the usual error shape. */
const ItemFailed = Type.Object(
  {
    success: Type.Literal(false),
    errno: Type.Integer({ description: 'The HTTP status the same emit would have answered alone.' }),
    message: Type.String({ description: 'What was wrong with this item, naming it (`items[2].event ...`).' }),
    code: Type.String({ description: 'A stable error code: VALIDATION_ERROR, NOT_FOUND, SERVICE_UNAVAILABLE, DELIVERY_UNCONFIRMED.' }),
  },
  { description: 'Not sent (for DELIVERY_UNCONFIRMED: maybe sent); the other items are not affected.' },
);

/** The answer: one result per item, in the order of the items. */
export const BatchReply = Type.Object(
  {
    success: Type.Literal(true),
    message: Type.Literal('SUCCESS'),
    results: Type.Array(Type.Union([ItemSent, ItemFailed]), { description: 'One result per item, in the order of `items`.' }),
    partial: Type.Optional(Type.Literal(true, { description: 'As for the single emits: some gateway node could not be asked or did not answer in time.' })),
    unconfirmed: Type.Optional(Type.Literal(true, { description: 'As for the single emits: with `partial`, the nodes were asked and may have delivered.' })),
  },
  {
    description: 'The batch was taken: each item has its own result (a refused item does not stop the others).',
    examples: [
      {
        success: true,
        message: 'SUCCESS',
        results: [
          { success: true, sockets: 2 },
          { success: true, sockets: 1 },
          { success: false, errno: 404, message: 'items[2]: no scraper socket "xyz123abc" is connected to /v1/lead-finder', code: 'NOT_FOUND' },
        ],
      },
    ],
  },
);
export type BatchReply = Static<typeof BatchReply>;

/** `POST /emit/batch`: `{ items }`. */
export const EmitBatch = {
  summary: 'Emit many events, each to its own audience, in one call',
  description:
    'Sends each item (one user, several users, or one lead-finder scraper socket; an event; a payload) and answers one result per item, in order. ' +
    'Every item is checked before anything is sent; an invalid item gets its own error in `results` and does not stop the others, so the call answers 200 ' +
    'once the batch itself is acceptable. At most BATCH_MAX_ITEMS items (413 past it), within BODY_LIMIT_BYTES and EMIT_MAX_BYTES. ' +
    'Each item counts as one emit against the rate limit: a batch that does not fit in what is left of it is refused whole (429), nothing sent. ' +
    'In a cluster the whole batch costs one round of messages between the nodes.',
  tags: ['Emit'],
  // Each item is checked by the handler, so that one bad item is refused alone (routes/batch.ts).
  body: Type.Object(
    {
      items: Type.Array(Type.Unknown(), {
        minItems: 1,
        'x-error': 'must be a non-empty array of items { userId | userIds | socketId, event, data }',
      }),
    },
    { additionalProperties: false, examples: [EXAMPLE] },
  ),
  documentedBody: Type.Object({ items: Type.Array(BatchItem, { minItems: 1 }) }, { additionalProperties: false, examples: [EXAMPLE] }),
  response: { 200: BatchReply },
};
export type EmitBatchBody = Static<typeof EmitBatch.documentedBody>;
