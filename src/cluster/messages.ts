/**
 * The messages gateway nodes send each other through the cluster bus (channel.ts carries them).
 *
 * Every message has a type name and a version, and crosses as an envelope `{ type, version, body }`
 * on one server-side event of the main namespace. Every node answers every envelope it receives:
 * `{ ok: true, answer }`, or `{ ok: false, refused }` when it cannot act on it: a type it does not
 * handle, a version newer than its own, an envelope or a body of the wrong shape. A refused message
 * changes nothing; the node logs the first refusal of each kind and counts them all (the metric
 * `general_socket_cluster_messages_refused_total`). The asking node counts only the answers it can
 * read: a refusal or an unreadable answer makes its report partial, never a wrong number, so nodes
 * running different versions of the gateway can share a cluster while it is upgraded.
 *
 * Adding a message is a change here: declare it with `message()` below; the module that acts on
 * it calls `handle`, the one that sends it calls `ask`, both typed by the declaration. To change what a
 * message carries, raise its version: its reader receives the version of each body it is given (a
 * newer one is refused before reading), so it can go on reading the older shape during an upgrade.
 */
/** The server-side event every message travels on. */
export const MESSAGE_EVENT = 'general-socket:message';

/** A message as it crosses between nodes. */
export interface Envelope {
  readonly type: string;
  readonly version: number;
  readonly body: unknown;
}

/** Why a node did not act on a message. */
export type RefusalReason =
  /** Not an envelope at all. */
  | 'malformed'
  /** A type this node does not handle. */
  | 'unknown-type'
  /** A version newer than the one this node speaks. */
  | 'newer-version'
  /** A version this node no longer reads. */
  | 'older-version'
  /** The right type and version, but a body of the wrong shape. */
  | 'invalid-body'
  /** Understood, but acting on it failed part way (a bug): it may have done part of it. */
  | 'failed';

/** A node's answer to an envelope. */
export type Reply = { readonly ok: true; readonly answer: unknown } | { readonly ok: false; readonly refused: RefusalReason };

/** Server-side events between gateway nodes (Socket.IO's `ServerSideEvents` generic). */
export interface ClusterEvents {
  [MESSAGE_EVENT]: (envelope: Envelope, reply: (reply: Reply) => void) => void;
}

/** One kind of message: its name, the version this node speaks, and how to read what crosses. */
export interface MessageKind<Body, Answer> {
  readonly type: string;
  readonly version: number;
  /** A received body of `version` (at most this kind's), or undefined when it cannot be read. */
  readBody(body: unknown, version: number): Body | undefined;
  /** A received answer, or undefined when it cannot be read. */
  readAnswer(answer: unknown): Answer | undefined;
}

const declared: MessageKind<unknown, unknown>[] = [];
/** Every message this version of the gateway knows, in the order declared. */
export const MESSAGES: readonly MessageKind<unknown, unknown>[] = declared;

/** Declares a message kind (and so makes it known to this version). */
function message<Body, Answer>(kind: MessageKind<Body, Answer>): MessageKind<Body, Answer> {
  if (declared.some((known) => known.type === kind.type)) throw new Error(`cluster message "${kind.type}" is declared twice`);
  declared.push(kind as MessageKind<unknown, unknown>);
  return kind;
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isString = (value: unknown): value is string => typeof value === 'string';

/**
 * A delivery as it crosses: to every socket of some users, or to one lead-finder scraper socket.
 * With streams on, `positions[i]` is the position of the event in the stream of `userIds[i]`.
 */
export type WireDelivery =
  | { readonly to: 'users'; readonly userIds: readonly string[]; readonly event: string; readonly data: unknown; readonly positions?: readonly string[] }
  | { readonly to: 'scraper'; readonly socketId: string; readonly event: string; readonly data: unknown };

function isWireDelivery(value: unknown): value is WireDelivery {
  if (typeof value !== 'object' || value === null) return false;
  const delivery = value as Record<string, unknown>;
  if (!isString(delivery.event)) return false;
  if (delivery.to === 'users') {
    if (!Array.isArray(delivery.userIds) || !delivery.userIds.every(isString)) return false;
    const { positions } = delivery;
    return positions === undefined || (Array.isArray(positions) && positions.length === delivery.userIds.length && positions.every(isString));
  }
  return delivery.to === 'scraper' && isString(delivery.socketId);
}

/** One count per delivery (or fan-out) of a message, in order. */
const readCounts = (answer: unknown): readonly number[] | undefined => (Array.isArray(answer) && answer.every(isCount) ? answer : undefined);

/**
 * Deliver these events to your own sockets; answers how many sockets each reached, in order.
 * Version 2 (streams): positions beside user ids, and a count per delivery; a version 1 sender is
 * refused (its report says partial) rather than given an answer it cannot read.
 */
export const DeliverMessage = message<readonly WireDelivery[], readonly number[]>({
  type: 'deliver',
  version: 2,
  readBody: (body, version) => (version === 2 && Array.isArray(body) && body.every(isWireDelivery) ? body : undefined),
  readAnswer: readCounts,
});

/** One recipient of a fan-out: a user, the fields computed for them, and (streams on) the event's position in their stream. */
export interface FanoutRecipient {
  readonly userId: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly position?: string;
}

/**
 * One event to each of several users, each with their own payload `{ ...common, ...fields }`. What
 * all of them get crosses once, beside each one's few fields: a conversation of N users crossing as
 * N payloads would carry N copies of N users' documents.
 */
export interface WireFanout {
  readonly event: string;
  readonly common: Readonly<Record<string, unknown>>;
  readonly recipients: readonly FanoutRecipient[];
}

const isFields = (value: unknown): value is Readonly<Record<string, unknown>> => typeof value === 'object' && value !== null && !Array.isArray(value);

function isWireFanout(value: unknown): value is WireFanout {
  if (typeof value !== 'object' || value === null) return false;
  const { event, common, recipients } = value as Record<string, unknown>;
  return (
    isString(event) &&
    isFields(common) &&
    Array.isArray(recipients) &&
    recipients.every(
      (recipient: unknown) =>
        isFields(recipient) && isString(recipient.userId) && isFields(recipient.fields) && (recipient.position === undefined || isString(recipient.position)),
    )
  );
}

/** Deliver each of these fan-outs to your own sockets of its recipients; answers how many sockets each reached, in order (version 2 as `deliver`). */
export const DeliverEachMessage = message<readonly WireFanout[], readonly number[]>({
  type: 'deliver-each',
  version: 2,
  readBody: (body, version) => (version === 2 && Array.isArray(body) && body.every(isWireFanout) ? body : undefined),
  readAnswer: readCounts,
});

/** What one node counts: users with a socket there, and sockets per namespace. */
export interface NodeFigures {
  readonly users: number;
  readonly sockets: Readonly<Record<string, number>>;
}

function isNodeFigures(value: unknown): value is NodeFigures {
  if (typeof value !== 'object' || value === null) return false;
  const { users, sockets } = value as Record<string, unknown>;
  return isCount(users) && typeof sockets === 'object' && sockets !== null && Object.values(sockets).every(isCount);
}

/** Count what is connected to you; answers the node's figures. */
export const FiguresMessage = message<null, NodeFigures>({
  type: 'figures',
  version: 1,
  readBody: (body) => (body === null ? null : undefined),
  readAnswer: (answer) => (isNodeFigures(answer) ? answer : undefined),
});

/** A disconnect as it crosses: every socket of a user, or one scraper socket, optionally after a last event. */
export type WireDisconnect = ({ readonly to: 'user'; readonly userId: string } | { readonly to: 'scraper'; readonly socketId: string }) & {
  readonly event?: string;
  readonly data?: unknown;
};

function isWireDisconnect(value: unknown): value is WireDisconnect {
  if (typeof value !== 'object' || value === null) return false;
  const disconnect = value as Record<string, unknown>;
  if (disconnect.event !== undefined && !isString(disconnect.event)) return false;
  if (disconnect.to === 'user') return isString(disconnect.userId);
  return disconnect.to === 'scraper' && isString(disconnect.socketId);
}

/** Disconnect these sockets of yours (after sending them the event, when there is one); answers how many were closed. */
export const DisconnectMessage = message<WireDisconnect, number>({
  type: 'disconnect',
  version: 1,
  readBody: (body) => (isWireDisconnect(body) ? body : undefined),
  readAnswer: (answer) => (isCount(answer) ? answer : undefined),
});

/* Token revocation (issue 14). */

/** A revocation as it crosses: a user's tokens issued before `revokedAt`, or one token by its `jti` (times in seconds). */
export type WireRevocation =
  | { readonly kind: 'user'; readonly userId: string; readonly revokedAt: number; readonly keepUntil: number }
  | { readonly kind: 'token'; readonly jti: string; readonly keepUntil: number };

function isWireRevocation(value: unknown): value is WireRevocation {
  if (typeof value !== 'object' || value === null) return false;
  const revocation = value as Record<string, unknown>;
  if (!Number.isSafeInteger(revocation.keepUntil)) return false;
  if (revocation.kind === 'user') return isString(revocation.userId) && Number.isSafeInteger(revocation.revokedAt);
  return revocation.kind === 'token' && isString(revocation.jti);
}

/** Disconnect your sockets whose token this revokes (and remember it); answers how many were disconnected. */
export const RevokeMessage = message<WireRevocation, number>({
  type: 'revoke',
  version: 1,
  readBody: (body) => (isWireRevocation(body) ? body : undefined),
  readAnswer: (answer) => (isCount(answer) ? answer : undefined),
});
