/**
 * Where each user socket stands in its user's stream, and what brings it up to date.
 *
 * Every event addressed to a user is appended to the user's stream (streams/) before anything is
 * sent, so the stream is the truth and live delivery only a shortcut: a socket that sees a live event
 * with the seq it expects takes it at once; one that sees a later seq (an event delivered out of
 * order by two nodes, or missed while it was catching up) reads the stream from where it stands
 * instead. A socket therefore receives each event of its user once, in stream order, whether it
 * came live or from the stream.
 *
 * A socket's start is settled before it connects (`prepare`, in the namespace's middleware, after the
 * token is checked): after the position its client sent back (Socket.IO's recovery: `auth.pid` and
 * `auth.offset`), after an explicit `auth.since`, or after the stream's head for a fresh connection.
 * A position that the stream no longer holds (trimmed, expired, another epoch) is answered with the
 * gap event, so the client reloads its state instead of silently missing events; the socket then
 * receives what the stream still keeps, from its oldest event, so that a client that ignores the gap
 * event loses only what is truly gone.
 */
import type { FastifyBaseLogger } from 'fastify';
import { STREAM_GAP_EVENT } from './api/common.js';
import { sendEncodedEvent, setSession } from './internals/socket-io.js';
import type { GatewaySocket } from './socket-server.js';
import { formatPosition, parsePosition, payloadJson, type Position, type StreamHead, type UserStreams } from './streams/streams.js';

/** Events read from the stream at a time while a socket catches up. */
const PAGE = 100;

/** The session ids the gateway gives user sockets: the position the socket started after. */
const PID_PREFIX = 'gs1.';

/** Why a socket was told it missed events. */
export type GapReason =
  /** The position is older than what the stream keeps (HISTORY_SIZE or HISTORY_TTL_SECONDS). */
  | 'trimmed'
  /** The stream was wiped since (expired while idle, evicted, or its store lost it): another epoch. */
  | 'epoch'
  /** The position is not one this stream ever handed out. */
  | 'unknown';

/**
 * The payload of the gap event. Its last argument, as for every event, is a position: the one just
 * before `oldest`, so that a client that drops right after it resumes with what is still kept.
 */
export interface GapNotice {
  readonly reason: GapReason;
  /** The position the client asked to resume after, as it sent it. */
  readonly requested: string | null;
  /** The oldest position still kept (the socket receives it next), or null when the stream keeps nothing. */
  readonly oldest: string | null;
  /** The newest position when the gap was found: the socket receives what is kept up to it, then live events. */
  readonly newest: string;
}

/** What a socket resumes from, as its client asked. */
export type Resume = { readonly kind: 'fresh' } | { readonly kind: 'recover' | 'since'; readonly raw: string; readonly position: Position | undefined };

interface Cursor {
  readonly socket: GatewaySocket;
  readonly userId: string;
  epoch: string;
  /** The seq this socket expects next. */
  next: number;
  /** A gap to announce once the socket is connected (settled in the middleware). */
  gap?: GapNotice;
  /** Reading the stream now; live events meanwhile only ask for another read. */
  reading: boolean;
  readAgain: boolean;
}

/** What the metrics learn from the cursors. */
export interface CursorObserver {
  /** A user socket connected: fresh, resuming its session (`recover`), or after `auth.since`. */
  started(how: Resume['kind']): void;
  /** Events sent to a socket from its stream rather than live. */
  replayed(events: number): void;
  /** A socket was sent the gap event. */
  gap(reason: GapReason): void;
}

const unobserved: CursorObserver = { started: () => undefined, replayed: () => undefined, gap: () => undefined };

/** What the users namespace and the emitter ask of the cursors. */
export interface StreamCursors {
  /**
   * Settles where `socket` starts (in the middleware, once its user is known) and gives it its session
   * id. Rejects when the stream cannot be read: the caller closes the transport, and the client retries.
   */
  prepare(socket: GatewaySocket, userId: string): Promise<void>;
  /** Starts following the stream for a connected socket: announces a gap, replays what it missed. */
  attach(socket: GatewaySocket): void;
  /**
   * Reads the stream once more for a connected socket: what another node appended and sent while the
   * user directory did not list this node yet reached the other nodes, not this socket.
   */
  refresh(socket: GatewaySocket): void;
  /**
   * A live event of `userId`'s stream for one of this node's sockets in that user's room; false when
   * the socket has no cursor or follows another user's stream (something else, such as a
   * redis-emitter's socketsJoin, put it in the room): the caller then sends the event live.
   * `json` is `data` as JSON when the caller has it (payloadJson).
   */
  offer(socket: GatewaySocket, userId: string, position: Position, event: string, data: unknown, json?: string): boolean;
}

/** What the client asked to resume from, read from its handshake. */
function resumeOf(auth: Record<string, unknown> | undefined): Resume {
  const pid = auth?.pid;
  if (typeof pid === 'string' && pid.startsWith(PID_PREFIX)) {
    // The offset is the last event the client received; without one, it received nothing since the pid was given.
    const raw = typeof auth?.offset === 'string' ? auth.offset : pid.slice(PID_PREFIX.length);
    return { kind: 'recover', raw, position: parsePosition(raw) };
  }
  if (auth?.since !== undefined && auth.since !== null) {
    const raw = String(auth.since);
    return { kind: 'since', raw, position: parsePosition(auth.since) };
  }
  return { kind: 'fresh' };
}

/** The gap, if resuming after `position` from `head` would skip events. */
function gapFor(resume: Resume, head: StreamHead): GapNotice | undefined {
  if (resume.kind === 'fresh') return undefined;
  const notice = (reason: GapReason): GapNotice => ({
    reason,
    requested: resume.raw,
    oldest: head.oldest <= head.seq ? formatPosition({ epoch: head.epoch, seq: head.oldest }) : null,
    newest: formatPosition(head),
  });
  const { position } = resume;
  if (position === undefined) return notice('unknown');
  if (position.epoch !== head.epoch) return notice('epoch');
  if (position.seq > head.seq) return notice('unknown');
  if (position.seq + 1 < head.oldest) return notice('trimmed');
  return undefined;
}

/** The cursors of one node's user sockets over `streams`. */
export function createStreamCursors(streams: UserStreams, log: FastifyBaseLogger, observer: CursorObserver = unobserved): StreamCursors {
  const cursors = new WeakMap<GatewaySocket, Cursor>();

  // The JSON of the last event's name and payload: a fan-out offers one payload to every socket in a
  // row, and each packet differs from the others only by its position, so the rest is encoded once.
  let encoded: { event: string; data: unknown; head: string } | undefined;
  const send = (cursor: Cursor, seq: number, event: string, data: unknown, json?: string): void => {
    const position = formatPosition({ epoch: cursor.epoch, seq });
    if (encoded === undefined || encoded.data !== data || encoded.event !== event) {
      encoded = { event, data, head: `[${JSON.stringify(event)},${json ?? payloadJson(data)},` };
    }
    // A position is `<base-36 epoch>:<digits>`: nothing in it needs escaping.
    if (!sendEncodedEvent(cursor.socket, `${encoded.head}"${position}"]`)) cursor.socket.emit(event, data, position);
    cursor.next = seq + 1;
  };

  /** Sends the gap event; the socket goes on with the first event still kept. */
  const announce = (cursor: Cursor, gap: GapNotice, oldest: number): void => {
    // The client's offset moves to just before what is kept: past what it cannot have, short of what it can.
    cursor.socket.emit(STREAM_GAP_EVENT, gap, formatPosition({ epoch: cursor.epoch, seq: oldest - 1 }));
    observer.gap(gap.reason);
    cursor.next = oldest;
  };

  /** Reads the stream from where the socket stands until it has caught up with it. */
  const catchUp = async (cursor: Cursor): Promise<void> => {
    if (cursor.reading) {
      cursor.readAgain = true;
      return;
    }
    cursor.reading = true;
    try {
      for (;;) {
        cursor.readAgain = false;
        const page = await streams.read(cursor.userId, cursor.next - 1, PAGE);
        if (!cursor.socket.connected) return;
        if (page.epoch !== cursor.epoch || page.oldest > cursor.next) {
          // Wiped, or trimmed past this socket while it caught up: what it lacks is gone.
          const reason: GapReason = page.epoch !== cursor.epoch ? 'epoch' : 'trimmed';
          const gap: GapNotice = {
            reason,
            requested: formatPosition({ epoch: cursor.epoch, seq: cursor.next - 1 }),
            oldest: page.oldest <= page.seq ? formatPosition({ epoch: page.epoch, seq: page.oldest }) : null,
            newest: formatPosition(page),
          };
          cursor.epoch = page.epoch;
          announce(cursor, gap, page.oldest);
          continue;
        }
        let replayed = 0;
        for (const entry of page.entries) {
          if (entry.seq !== cursor.next) continue;
          send(cursor, entry.seq, entry.event, entry.data);
          replayed++;
        }
        if (replayed > 0) observer.replayed(replayed);
        if (page.entries.length < PAGE && !cursor.readAgain) return;
      }
    } catch (error) {
      // The stream cannot be read: a reconnect resumes from the client's offset once it can.
      log.warn({ err: error, userId: cursor.userId }, 'user stream unreadable while a socket caught up; closing its transport so the client resumes');
      cursor.socket.conn.close();
    } finally {
      cursor.reading = false;
    }
  };

  return {
    async prepare(socket, userId) {
      const resume = resumeOf(socket.handshake.auth as Record<string, unknown> | undefined);
      const head = await streams.head(userId);
      const gap = gapFor(resume, head);
      observer.started(resume.kind);
      // Fresh: from now on. After a gap: from what the stream still keeps. Else: after the position.
      const start = resume.kind === 'fresh' ? head.seq : gap !== undefined ? head.oldest - 1 : (resume.position as Position).seq;
      const epoch = head.epoch;
      // The session id names where this socket started: a client that received nothing resumes there.
      const recovered = resume.kind === 'recover' && gap === undefined;
      setSession(socket, recovered ? (socket.handshake.auth.pid as string) : PID_PREFIX + formatPosition({ epoch, seq: start }), recovered);
      cursors.set(socket, { socket, userId, epoch, next: start + 1, reading: false, readAgain: false, ...(gap && { gap }) });
    },

    attach(socket) {
      const cursor = cursors.get(socket);
      if (cursor === undefined) return;
      if (cursor.gap !== undefined) {
        announce(cursor, cursor.gap, cursor.next);
        delete cursor.gap;
      }
      // Also for a fresh socket: an event appended between its head and its joining the user's room
      // was delivered to the room without it.
      void catchUp(cursor);
    },

    refresh(socket) {
      const cursor = cursors.get(socket);
      if (cursor !== undefined && socket.connected) void catchUp(cursor);
    },

    offer(socket, userId, position, event, data, json) {
      const cursor = cursors.get(socket);
      // Another user's position means nothing to this cursor: taken for its own, it would skip or re-read events.
      if (cursor === undefined || cursor.userId !== userId) return false;
      if (position.epoch === cursor.epoch && position.seq < cursor.next) return true;
      if (position.epoch === cursor.epoch && position.seq === cursor.next && !cursor.reading) {
        send(cursor, position.seq, event, data, json);
        return true;
      }
      // A later seq, or another epoch (the stream was wiped): the stream says what this socket lacks.
      void catchUp(cursor);
      return true;
    },
  };
}
