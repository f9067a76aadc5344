/**
 * The gateway's own messages between a `WORKERS` primary and its workers, a turn's in one IPC write.
 *
 * Each `process.send` is a write on the IPC pipe that wakes the process at the other end, and on a
 * machine with as many busy processes as cores that wake-up takes the writer's core: profiled under
 * unicast load, a worker spent about a fifth of its time in the IPC write alone, the primary about
 * half of its own in garbage from one message per emit. So what the gateway sends during one turn of
 * the event loop goes out at the end of it as one `{ gs: 'turn', messages }`, and the receiving side
 * unpacks it into the 'message' events the messages would have been alone: every listener (presence,
 * links, rate limits) reads them as before, in the order they were sent. Messages of others (the
 * cluster adapter's, sticky's) are not batched: their order among the gateway's does not matter.
 */
import cluster, { type Worker } from 'node:cluster';
import { refusedByPrimary, vouch } from './ipc-guard.js';

/** A turn's messages in one write. */
interface Turn {
  readonly gs: 'turn';
  readonly messages: readonly unknown[];
}

const isTurn = (message: unknown): message is Turn =>
  typeof message === 'object' && message !== null && (message as { gs?: unknown }).gs === 'turn' && Array.isArray((message as { messages?: unknown }).messages);

/** Called once the message was written (error undefined), or with why it was not. */
export type Sent = (error: Error | undefined) => void;

/** Collects one destination's messages until the end of the turn, then writes them as one. */
class Outbox {
  private messages: unknown[] = [];
  private sent: (Sent | undefined)[] = [];

  constructor(private readonly write: (turn: Turn, done: (error: Error | null | undefined) => void) => void) {}

  push(message: unknown, sent?: Sent): void {
    if (this.messages.length === 0) setImmediate(() => this.flush());
    this.messages.push(message);
    this.sent.push(sent);
  }

  /** Writes what waits now; resolves once it was written (or could not be). */
  drain(): Promise<void> {
    if (this.messages.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.sent.push(() => resolve());
      this.flush();
    });
  }

  private flush(): void {
    const { messages, sent } = this;
    if (messages.length === 0) return;
    this.messages = [];
    this.sent = [];
    const done = (error: Error | null | undefined): void => {
      for (const callback of sent) callback?.(error ?? undefined);
    };
    try {
      this.write({ gs: 'turn', messages }, done);
    } catch (error) {
      done(error as Error);
    }
  }
}

let toPrimary: Outbox | undefined;

/**
 * In a worker: sends `message` to the primary at the end of this turn. A message the primary's
 * channel would refuse (ipc-guard.ts) is refused alone, with `sent` called with the reason.
 */
export function sendToPrimary(message: unknown, sent?: Sent): void {
  const refused = refusedByPrimary(message);
  if (refused) return void (sent && process.nextTick(sent, refused));
  toPrimary ??= new Outbox((turn, done) => {
    if (!process.connected || process.send === undefined) return done(new Error('the primary process is gone'));
    vouch(turn);
    process.send(turn, undefined, {}, done);
  });
  toPrimary.push(message, sent);
}

/**
 * In a worker: writes the messages still waiting for the end of this turn, and resolves once they
 * were written. A worker that exits calls it first: what it sent last (a reply, a presence change)
 * must not be lost with the turn that did not end.
 */
export function drainToPrimary(): Promise<void> {
  return toPrimary?.drain() ?? Promise.resolve();
}

const toWorkers = new WeakMap<Worker, Outbox>();

/** In the primary: sends `message` to `worker` at the end of this turn. */
export function sendToWorker(worker: Worker, message: unknown, sent?: Sent): void {
  let outbox = toWorkers.get(worker);
  if (outbox === undefined) {
    outbox = new Outbox((turn, done) => {
      if (!worker.isConnected()) return done(new Error(`worker ${worker.id} is gone`));
      worker.send(turn, done);
    });
    toWorkers.set(worker, outbox);
  }
  outbox.push(message, sent);
}

let unpacking = false;

/**
 * Unpacks the turns this process receives into the messages they hold, in order: in the primary,
 * as each worker's 'message' events (which Node passes on to `cluster`'s); in a worker, as its
 * process's. Idempotent; call it before listening for the gateway's messages.
 */
export function unpackTurns(): void {
  if (unpacking) return;
  unpacking = true;
  if (cluster.isPrimary) {
    cluster.on('message', (worker, message: unknown) => {
      if (isTurn(message)) for (const inner of message.messages) worker.emit('message', inner);
    });
  } else {
    process.on('message', (message: unknown) => {
      if (isTurn(message)) for (const inner of message.messages) process.emit('message', inner as never, undefined);
    });
  }
}
