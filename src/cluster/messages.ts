/**
 * The messages gateway nodes send each other through the cluster bus, and the one channel they
 * travel on.
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
 * Adding a message is a change here: declare it with `message()` below and add it to `MESSAGES`;
 * the module that acts on it calls `handle`, the one that sends it calls `ask`. To change what a
 * message carries, raise its version: its reader receives the version of each body it is given (a
 * newer one is refused before reading), so it can go on reading the older shape during an upgrade.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Namespace } from 'socket.io';
import type { ClusterBus } from './bus.js';

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

function message<Body, Answer>(kind: MessageKind<Body, Answer>): MessageKind<Body, Answer> {
  return kind;
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isString = (value: unknown): value is string => typeof value === 'string';

/** A delivery as it crosses: to every socket of some users, or to one lead-finder worker socket. */
export type WireDelivery =
  | { readonly to: 'users'; readonly userIds: readonly string[]; readonly event: string; readonly data: unknown }
  | { readonly to: 'worker'; readonly socketId: string; readonly event: string; readonly data: unknown };

function isWireDelivery(value: unknown): value is WireDelivery {
  if (typeof value !== 'object' || value === null) return false;
  const delivery = value as Record<string, unknown>;
  if (!isString(delivery.event)) return false;
  if (delivery.to === 'users') return Array.isArray(delivery.userIds) && delivery.userIds.every(isString);
  return delivery.to === 'worker' && isString(delivery.socketId);
}

/** Deliver these events to your own sockets; answers how many sockets were reached. */
export const DeliverMessage = message<readonly WireDelivery[], number>({
  type: 'deliver',
  version: 1,
  readBody: (body) => (Array.isArray(body) && body.every(isWireDelivery) ? body : undefined),
  readAnswer: (answer) => (isCount(answer) ? answer : undefined),
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

/** Every message this version of the gateway knows. */
export const MESSAGES: readonly MessageKind<any, any>[] = [DeliverMessage, FiguresMessage];

/** What the other nodes answered to one message. */
export interface Answers<Answer> {
  /** The answers that could be read, one per node. */
  readonly answers: readonly Answer[];
  /** False when some node's answer is missing: it could not be asked, did not answer in time, or refused. */
  readonly complete: boolean;
  /**
   * With `complete` false: some node whose answer is missing may have acted on the message all the
   * same (it was asked and did not answer in time, or answered unreadably), so a caller must not
   * assume that nothing happened there.
   */
  readonly unconfirmed: boolean;
}

/** A message this node did not act on. */
export interface Refusal {
  /** The message's type when this version knows it, else `unknown`. */
  readonly type: string;
  readonly reason: RefusalReason;
}

/** Sends messages to the other nodes and answers theirs. */
export interface ClusterMessages {
  /** Whether other nodes may exist: when not, `ask` answers at once with nothing. */
  readonly distributed: boolean;
  /** Acts on `kind` when another node sends it; the handler's result is the answer. One handler per kind. */
  handle<Body, Answer>(kind: MessageKind<Body, Answer>, handler: (body: Body) => Answer): void;
  /**
   * Sends `body` to every other node and gathers the answers, within the bus's timeout. Never
   * rejects; an unreachable bus answers at once with no answers.
   */
  ask<Body, Answer>(kind: MessageKind<Body, Answer>, body: Body): Promise<Answers<Answer>>;
  /** Calls `listener` for every message this node refuses (the metrics count them). */
  onRefused(listener: (refusal: Refusal) => void): void;
}

/** The namespace messages travel on: any namespace whose server-side events include ours. */
type Channel = Namespace<any, any, ClusterEvents, any>;

/** The channel of one gateway node: `control` is its main namespace, `bus` joins it to the others. */
export function createClusterMessages(control: Channel, bus: ClusterBus, log: FastifyBaseLogger): ClusterMessages {
  const handlers = new Map<string, { kind: MessageKind<unknown, unknown>; handler: (body: unknown) => unknown }>();
  const refusedListeners: ((refusal: Refusal) => void)[] = [];
  // One log line per kind of problem: a node on another version would otherwise log every emit.
  const logged = new Set<string>();
  const logOnce = (key: string, write: () => void): void => {
    if (logged.has(key)) return;
    logged.add(key);
    write();
  };

  const refuse = (envelope: Partial<Envelope>, reason: RefusalReason): Reply => {
    const known = MESSAGES.some((kind) => kind.type === envelope.type);
    const refusal: Refusal = { type: known ? (envelope.type as string) : 'unknown', reason };
    for (const listener of refusedListeners) listener(refusal);
    const about = { type: typeof envelope.type === 'string' ? envelope.type.slice(0, 100) : undefined, version: envelope.version, reason };
    if (reason === 'failed') log.error(about, 'a message from another gateway node failed here');
    else logOnce(`${about.type}/${about.version}/${reason}`, () => log.warn(about, 'refused a message from another gateway node (is it running another version?); further ones like it are only counted'));
    return { ok: false, refused: reason };
  };

  const receive = (received: unknown): Reply => {
    if (typeof received !== 'object' || received === null) return refuse({}, 'malformed');
    const envelope = received as Partial<Envelope>;
    if (typeof envelope.type !== 'string' || !Number.isSafeInteger(envelope.version) || envelope.version! < 1) return refuse(envelope, 'malformed');
    const entry = handlers.get(envelope.type);
    if (!entry) return refuse(envelope, 'unknown-type');
    const { kind, handler } = entry;
    if (envelope.version! > kind.version) return refuse(envelope, 'newer-version');
    const body = kind.readBody(envelope.body, envelope.version!);
    if (body === undefined) return refuse(envelope, envelope.version! < kind.version ? 'older-version' : 'invalid-body');
    try {
      return { ok: true, answer: handler(body) };
    } catch (error) {
      log.error({ err: error, type: kind.type }, 'handling a message from another gateway node threw');
      return refuse(envelope, 'failed');
    }
  };

  if (bus.distributed) {
    control.on(MESSAGE_EVENT, (envelope: unknown, reply: unknown) => {
      const answer = receive(envelope);
      // A sender that wants no answer (a raw serverSideEmit without callback) gets none.
      if (typeof reply === 'function') reply(answer);
    });
  }

  return {
    distributed: bus.distributed,

    handle(kind, handler) {
      if (handlers.has(kind.type)) throw new Error(`cluster message "${kind.type}" already has a handler`);
      handlers.set(kind.type, { kind, handler: handler as (body: unknown) => unknown });
    },

    async ask<Body, Answer>(kind: MessageKind<Body, Answer>, body: Body): Promise<Answers<Answer>> {
      if (!bus.distributed) return { answers: [], complete: true, unconfirmed: false };
      if (!bus.reachable()) return { answers: [], complete: false, unconfirmed: false };
      const sent = await sendToOthers(control, bus.timeoutMs, { type: kind.type, version: kind.version, body });
      if (!sent.published) return { answers: [], complete: false, unconfirmed: false };
      const answers: Answer[] = [];
      let complete = sent.allAnswered;
      let unconfirmed = !sent.allAnswered;
      for (const reply of sent.replies) {
        const ok = typeof reply === 'object' && reply !== null && (reply as Reply).ok === true;
        const answer = ok ? kind.readAnswer((reply as { answer: unknown }).answer) : undefined;
        if (answer !== undefined) {
          answers.push(answer);
          continue;
        }
        complete = false;
        const reason = typeof reply === 'object' && reply !== null && (reply as Reply).ok === false ? (reply as { refused: unknown }).refused : undefined;
        // A node that says it did not act changed nothing; any other answer may hide an action.
        if (reason === undefined || reason === 'failed') unconfirmed = true;
        const problem = reason === undefined ? 'unreadable' : String(reason);
        logOnce(`asked/${kind.type}/${problem}`, () =>
          log.warn({ type: kind.type, version: kind.version, problem }, 'another gateway node did not act on a message (is it running another version?); replies are partial'),
        );
      }
      return { answers, complete, unconfirmed };
    },

    onRefused(listener) {
      refusedListeners.push(listener);
    },
  };
}

/** What a server-side emit with acknowledgement came back with. */
interface Sent {
  readonly replies: readonly unknown[];
  /** Whether every node the adapter knows answered in time. */
  readonly allAnswered: boolean;
  /** Whether the message went out (when it did, nodes that did not answer may have acted on it). */
  readonly published: boolean;
}

/**
 * Sends `envelope` to the same namespace on every other node and collects the replies, within
 * `timeoutMs`. Never rejects, and never waits much longer than that.
 */
function sendToOthers(control: Channel, timeoutMs: number, envelope: Envelope): Promise<Sent> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (sent: Sent): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(sent);
    };
    // The adapters time out by themselves, with the replies they got; this guard only covers an
    // adapter that drops the request without calling back, as the Redis adapter does when Redis
    // fails. `timeoutMs` is the bus's own (at least its adapter's), so the guard never fires first.
    const timer = setTimeout(() => settle({ replies: [], allAnswered: false, published: true }), timeoutMs + 250);
    try {
      control.serverSideEmit(MESSAGE_EVENT, envelope, (error: Error | null, replies: unknown[]) =>
        settle({ replies: replies ?? [], allAnswered: error === null || error === undefined, published: true }),
      );
    } catch {
      settle({ replies: [], allAnswered: false, published: false });
    }
  });
}
