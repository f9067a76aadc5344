/**
 * The SDK's request and answer types, derived from the route schemas the gateway validates with
 * (src/api). Type-only imports: nothing of the server reaches the SDK's JavaScript.
 */
import type { Static } from 'typebox';
import type { BatchItem as BatchItemSchema, BatchReply } from '../api/batch.js';
import type { EmitConversation, EmitMessage } from '../api/conversations.js';
import type { EmitToUser, EmitToUsers } from '../api/emit.js';
import type { Health, Ready } from '../api/health.js';
import type { History } from '../api/history.js';
import type { EmitToScraper } from '../api/lead-finder.js';
import type { DisconnectUser, UserPresence, UsersPresence } from '../api/presence.js';
import type { Stats } from '../api/stats.js';
import type { RevokeToken, RevokeUserTokens } from '../api/tokens.js';

/** A user id: a token's `sub`, 1 to 128 characters without whitespace. */
export type UserId = Static<typeof EmitToUser.params>['userId'];

/** A Socket.IO event name, 1 to 100 characters, not one Socket.IO reserves. */
export type EventName = Static<typeof EmitToUser.params>['emitTo'];

/** Any JSON value; clients receive it as it is. */
export type Payload = Static<typeof EmitToUser.body>;

/** One user id or several; a repeated id is delivered once. */
export type UserIds = Static<typeof EmitToUsers.body>['userIds'] | readonly UserId[];

/** The id of a lead-finder scraper socket. */
export type ScraperSocketId = Static<typeof EmitToScraper.body>['socketId'];

/** A conversation channel, such as `prospect`. */
export type Channel = Static<typeof EmitMessage.params>['channel'];

/** A message (Communication) document id. */
export type MessageId = Static<typeof EmitMessage.params>['messageID'];

/** A conversation document id. */
export type ConversationId = Static<typeof EmitConversation.params>['convoID'];

/** Whether a conversation is new: `'new'`, `'existing'`, or the same as a boolean. */
export type IsNew = Static<typeof EmitConversation.params>['isNew'] | boolean;

/** The answer of every emit: `{ success: true, message: 'SUCCESS', sockets }`. */
export type EmitResult = Static<(typeof EmitToUser.response)[200]>;

/** One item of `emitBatch`: exactly one of `userId`, `userIds`, `socketId`; an event; its payload. */
export type BatchItem = Static<typeof BatchItemSchema>;

/** The answer of `emitBatch`: one result per item, in order (`{ success: true, sockets }` or the item's error). */
export type BatchResult = Static<typeof BatchReply>;

/** The answer of `GET /healthz`. */
export type HealthResult = Static<(typeof Health.response)[200]>;

/** The answer of `GET /readyz`, whether ready (200) or not (503). */
export type ReadinessResult = Static<(typeof Ready.response)[200]>;

/** The answer of `GET /stats`: connected users and sockets per namespace. */
export type StatsResult = Static<(typeof Stats.response)[200]>;

/** A position in a user's history (`<epoch>:<seq>`), as an answer of `history()` gave it; opaque. */
export type Position = string;

/** Which events `history()` returns. */
export interface HistoryOptions {
  /** Only events after this position (the last one you received); omitted, from the oldest kept. */
  readonly since?: Position;
  /** Most events to return, 1 to 1000 (default 100). */
  readonly limit?: number;
}

/** The answer of `GET /users/:userId/events`: the events kept for a user, and whether some after `since` are gone (`gap`). */
export type HistoryResult = Static<(typeof History.response)[200]>;

/** The answer of `GET /users/:userId/presence`: `{ online, sockets, since }` (`since` an ISO date, or null). */
export type UserPresenceResult = Static<(typeof UserPresence.response)[200]>;

/** The answer of `POST /presence`: the online users among those asked, and each one's sockets and since. */
export type UsersPresenceResult = Static<(typeof UsersPresence.response)[200]>;

/** A last event before a disconnect: `{ event, data }` (data optional). */
export type DisconnectNotice = Static<typeof DisconnectUser.body>;

/** The answer of a disconnect: `{ sockets }` closed (with `partial` and `unconfirmed` as an emit's). */
export type DisconnectResult = Static<(typeof DisconnectUser.response)[200]>;
/** The answer of `POST /users/:userId/revoke-tokens`: the sockets disconnected and the moment tokens must be issued after. */
export type RevokeUserTokensResult = Static<(typeof RevokeUserTokens.response)[200]>;

/** The answer of `POST /tokens/revoke`: the sockets disconnected and until when the token is refused. */
export type RevokeTokenResult = Static<(typeof RevokeToken.response)[200]>;

/** A token's `jti` claim. */
export type TokenId = Static<typeof RevokeToken.body>['jti'];
