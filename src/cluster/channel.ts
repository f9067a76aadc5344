/**
 * The channel gateway nodes exchange messages on (messages.ts declares them): to every other node,
 * one server-side event of the main namespace carried by the cluster bus's adapter; to chosen nodes,
 * the bus's link, which reaches one node by its id. Both carry the same envelopes and answer them the
 * same way (`receive`, below): with the handler's answer or a refusal, and every answer received is
 * read before it is counted.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Namespace } from 'socket.io';
import type { ClusterBus } from './bus.js';
import { MESSAGES, MESSAGE_EVENT, type ClusterEvents, type Envelope, type MessageKind, type RefusalReason, type Reply } from './messages.js';

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

/** A message sent or received, for the metrics. */
export interface Traffic {
  /** The message's type when this version knows it, else `unknown`. */
  readonly type: string;
  readonly direction: 'sent' | 'received';
}

/** Sends messages to the other nodes and answers theirs. */
export interface ClusterChannel {
  /** Whether other nodes may exist: when not, `ask` answers at once with nothing. */
  readonly distributed: boolean;
  /** This node's id: the one the presence directory lists, and `askNode` reaches. */
  readonly nodeId: string;
  /** Whether `askNode` can reach one node alone (a distributed bus with a link). */
  readonly targeted: boolean;
  /** Acts on `kind` when another node sends it; the handler's result is the answer. One handler per kind. */
  handle<Body, Answer>(kind: MessageKind<Body, Answer>, handler: (body: Body) => Answer): void;
  /**
   * Sends `body` to every other node and gathers the answers, within the bus's timeout. Never
   * rejects; an unreachable bus answers at once with no answers.
   */
  ask<Body, Answer>(kind: MessageKind<Body, Answer>, body: Body): Promise<Answers<Answer>>;
  /**
   * Sends `body` to node `nodeId` only and reads its answer, within the bus's timeout (at most one
   * answer). Never rejects; a node that is not there, or a bus that is unreachable, answers at once
   * with nothing, `complete` false and `unconfirmed` false (it cannot have acted).
   */
  askNode<Body, Answer>(nodeId: string, kind: MessageKind<Body, Answer>, body: Body): Promise<Answers<Answer>>;
  /** Calls `listener` for every message this node refuses (the metrics count them). */
  onRefused(listener: (refusal: Refusal) => void): void;
  /** Calls `listener` for every message this node sends or receives (the metrics count them). */
  onTraffic(listener: (traffic: Traffic) => void): void;
}

/** The channel of one gateway node: `control` is its main namespace, `bus` joins it to the others. */
// biome-ignore lint/suspicious/noExplicitAny: a namespace of a server typed with any client events carries the cluster events
export function createClusterChannel(control: Namespace<any, any, ClusterEvents, any>, bus: ClusterBus, log: FastifyBaseLogger): ClusterChannel {
  const handlers = new Map<string, { kind: MessageKind<unknown, unknown>; handler: (body: unknown) => unknown }>();
  const refusedListeners: ((refusal: Refusal) => void)[] = [];
  const trafficListeners: ((traffic: Traffic) => void)[] = [];
  const known = (type: unknown): string => (MESSAGES.some((kind) => kind.type === type) ? (type as string) : 'unknown');
  const count = (type: unknown, direction: Traffic['direction']): void => {
    if (trafficListeners.length === 0) return;
    const traffic: Traffic = { type: known(type), direction };
    for (const listener of trafficListeners) listener(traffic);
  };
  // One log line per kind of problem: a node on another version would otherwise log every emit.
  const logged = new Set<string>();
  const logOnce = (key: string, write: () => void): void => {
    // Bounded: the keys come from other nodes, which could send any number of types and versions.
    if (logged.has(key) || logged.size >= 100) return;
    logged.add(key);
    write();
  };

  const refuse = (envelope: Partial<Envelope>, reason: RefusalReason): Reply => {
    const refusal: Refusal = { type: known(envelope.type), reason };
    for (const listener of refusedListeners) listener(refusal);
    const about = { type: typeof envelope.type === 'string' ? envelope.type.slice(0, 100) : undefined, version: envelope.version, reason };
    if (reason === 'failed') log.error(about, 'a message from another gateway node failed here');
    else
      logOnce(`${about.type}/${about.version}/${reason}`, () =>
        log.warn(about, 'refused a message from another gateway node (is it running another version?); further ones like it are only counted'),
      );
    return { ok: false, refused: reason };
  };

  const receive = (received: unknown): Reply => {
    if (typeof received !== 'object' || received === null) return refuse({}, 'malformed');
    const envelope = received as Partial<Envelope>;
    count(envelope.type, 'received');
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

  /** Reads the replies of the nodes asked; `allAnswered` false: some node asked did not answer in time. */
  const gather = <Answer>(kind: MessageKind<unknown, Answer>, replies: readonly unknown[], allAnswered: boolean): Answers<Answer> => {
    const answers: Answer[] = [];
    let complete = allAnswered;
    let unconfirmed = !allAnswered;
    for (const reply of replies) {
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
        log.warn(
          { type: kind.type, version: kind.version, problem },
          'another gateway node did not act on a message (is it running another version?); replies are partial',
        ),
      );
    }
    return { answers, complete, unconfirmed };
  };

  // Questions sent on the link and not answered yet, by id: each is settled by its answer, by the
  // link saying it did not arrive, or by the bus's timeout, so the map stays bounded.
  const link = bus.distributed ? bus.link : undefined;
  const pending = new Map<number, (answered: { reply: unknown } | 'not-asked' | 'no-answer') => void>();
  let nextId = 0;
  const askOne = (nodeId: string, envelope: Envelope): Promise<{ reply: unknown } | 'not-asked' | 'no-answer'> =>
    new Promise((resolve) => {
      const id = nextId++;
      const settle = (answered: { reply: unknown } | 'not-asked' | 'no-answer'): void => {
        if (!pending.delete(id)) return;
        clearTimeout(timer);
        resolve(answered);
      };
      const timer = setTimeout(() => settle('no-answer'), bus.timeoutMs);
      pending.set(id, settle);
      // The answer may come back before the send is confirmed: it was registered first.
      void link!.send(nodeId, { kind: 'ask', from: bus.nodeId, id, envelope }).then((arrived) => arrived || settle('not-asked'));
    });
  link?.onMessage((received) => {
    if (typeof received !== 'object' || received === null) return;
    const message = received as Readonly<Record<string, unknown>>;
    if (!Number.isSafeInteger(message.id)) return;
    if (message.kind === 'reply') pending.get(message.id as number)?.({ reply: message.reply });
    else if (message.kind === 'gone') pending.get(message.id as number)?.('not-asked');
    else if (message.kind === 'ask' && typeof message.from === 'string')
      void link.send(message.from, { kind: 'reply', id: message.id as number, reply: receive(message.envelope) });
  });

  if (bus.distributed) {
    control.on(MESSAGE_EVENT, (envelope: unknown, reply: unknown) => {
      const answer = receive(envelope);
      // A sender that wants no answer (a raw serverSideEmit without callback) gets none.
      if (typeof reply === 'function') reply(answer);
    });
  }

  return {
    distributed: bus.distributed,
    nodeId: bus.nodeId,
    targeted: link !== undefined,

    handle(kind, handler) {
      if (handlers.has(kind.type)) throw new Error(`cluster message "${kind.type}" already has a handler`);
      handlers.set(kind.type, { kind, handler: handler as (body: unknown) => unknown });
    },

    async ask<Body, Answer>(kind: MessageKind<Body, Answer>, body: Body): Promise<Answers<Answer>> {
      if (!bus.distributed) return { answers: [], complete: true, unconfirmed: false };
      if (!bus.reachable()) return { answers: [], complete: false, unconfirmed: false };
      count(kind.type, 'sent');
      const sent = await sendToOthers(control, bus.timeoutMs, { type: kind.type, version: kind.version, body });
      if (!sent.published) return { answers: [], complete: false, unconfirmed: false };
      return gather(kind, sent.replies, sent.allAnswered);
    },

    async askNode<Body, Answer>(nodeId: string, kind: MessageKind<Body, Answer>, body: Body): Promise<Answers<Answer>> {
      if (link === undefined || !bus.reachable()) return { answers: [], complete: false, unconfirmed: false };
      count(kind.type, 'sent');
      const answered = await askOne(nodeId, { type: kind.type, version: kind.version, body });
      if (answered === 'not-asked') return { answers: [], complete: false, unconfirmed: false };
      if (answered === 'no-answer') return { answers: [], complete: false, unconfirmed: true };
      return gather(kind, [answered.reply], true);
    },

    onRefused(listener) {
      refusedListeners.push(listener);
    },

    onTraffic(listener) {
      trafficListeners.push(listener);
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
// biome-ignore lint/suspicious/noExplicitAny: a namespace of a server typed with any client events carries the cluster events
function sendToOthers(control: Namespace<any, any, ClusterEvents, any>, timeoutMs: number, envelope: Envelope): Promise<Sent> {
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
