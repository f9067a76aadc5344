/**
 * Per-user streams: every event addressed to a user is appended to that user's stream before it is
 * sent, so a client that was away can be given what it missed. A stream is a bounded, expiring
 * sequence: at most `size` events, and gone (with its epoch) once `ttlMs` passed without an append
 * or a read of its head. Two implementations sit behind this interface (streams/sqlite.ts, the
 * embedded default in DATA_DIR, and streams/redis.ts for a cluster); one conformance suite
 * (test/streams.test.ts) runs against both.
 *
 * A position names one event of one user's stream: `<epoch>:<seq>`. `seq` counts from 1 within an
 * epoch with no holes; the epoch is a random word chosen when the stream is created, so a stream that
 * was wiped (expired, evicted, Redis restarted empty) never hands out a position a client already
 * holds with another meaning. Clients treat positions as opaque strings.
 */
import { randomBytes } from 'node:crypto';

/** Where a stream stands, and what it still holds. */
export interface StreamHead {
  readonly epoch: string;
  /** The last seq appended; 0 when nothing was appended in this epoch yet. */
  readonly seq: number;
  /** The first seq still kept; `seq + 1` when none is kept. */
  readonly oldest: number;
}

/** One kept event. */
export interface StreamEntry {
  readonly seq: number;
  readonly event: string;
  readonly data: unknown;
  /** When it was appended (epoch milliseconds). */
  readonly time: number;
}

/** An event to append to one user's stream. */
export interface Append {
  readonly userId: string;
  readonly event: string;
  readonly data: unknown;
  /** `data` as JSON, when the caller has serialized it already (the emitter, which sends the same text). */
  readonly json?: string;
}

/** What was appended: the stream's epoch and the event's seq. */
export interface Appended {
  readonly epoch: string;
  readonly seq: number;
}

/** A page of a stream, read after some seq. */
export interface StreamPage extends StreamHead {
  /** Kept events with seq > `after`, in order, at most `limit` of them, none older than the ttl. */
  readonly entries: readonly StreamEntry[];
}

/** The streams of every user. */
export interface UserStreams {
  /** Where they live, for logs (never a password). */
  readonly description: string;
  /**
   * Appends each event to its user's stream (creating the stream, or a new epoch for an expired one)
   * and resolves once all of them are durable, with one result per item in order. Items of one user
   * get increasing seqs in the order given.
   */
  append(items: readonly Append[]): Promise<readonly Appended[]>;
  /** The head of a user's stream, creating an empty one (a new epoch) when there is none, and keeping it alive. */
  head(userId: string): Promise<StreamHead>;
  /**
   * Kept events after `after` (a seq of the current epoch), at most `limit`, with the head: like
   * head(), it creates the stream when there is none and keeps it alive (a page always names an epoch).
   */
  read(userId: string, after: number, limit: number): Promise<StreamPage>;
  /** Whether the store can be reached, for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** How long and how much every stream keeps. */
export interface StreamLimits {
  /** Events kept per user (older ones are dropped first). */
  readonly size: number;
  /** How long an event is kept, and how long an idle stream lives. */
  readonly ttlMs: number;
}

/** A position in a user's stream. */
export interface Position {
  readonly epoch: string;
  readonly seq: number;
}

/** What a position string looks like (also the history API's schema for `since`). */
export const POSITION_PATTERN = '^([0-9a-z]{1,16}):(0|[1-9][0-9]{0,15})$';
const POSITION = new RegExp(POSITION_PATTERN);

/** The position string a client receives. */
export function formatPosition({ epoch, seq }: Position): string {
  return `${epoch}:${seq}`;
}

/** Reads a position string; undefined when it is not one. */
export function parsePosition(value: unknown): Position | undefined {
  if (typeof value !== 'string') return undefined;
  const match = POSITION.exec(value);
  if (match === null) return undefined;
  const seq = Number(match[2]);
  return Number.isSafeInteger(seq) ? { epoch: match[1] as string, seq } : undefined;
}

/** `data` as the JSON text streams keep and sockets receive (`undefined` as null, as JSON.stringify does in an array). */
export function payloadJson(data: unknown): string {
  return JSON.stringify(data) ?? 'null';
}

/**
 * Each item's payload as JSON text, in order: its `json` when it has one. A fan-out hands every user
 * the same `data` object, so a payload equal by reference to the one before is serialized once, not
 * once per user. Throws what JSON.stringify throws (a cycle, a BigInt).
 */
export function serializePayloads(items: readonly Append[]): string[] {
  const payloads: string[] = new Array(items.length);
  let last: { data: unknown; text: string } | undefined;
  for (let index = 0; index < items.length; index++) {
    const { data, json } = items[index] as Append;
    if (json !== undefined) payloads[index] = json;
    else {
      if (last === undefined || last.data !== data) last = { data, text: payloadJson(data) };
      payloads[index] = last.text;
    }
  }
  return payloads;
}

/** A fresh epoch: 8 random base-36 characters. */
export function newEpoch(): string {
  return randomBytes(5).readUIntBE(0, 5).toString(36).padStart(8, '0');
}

/** Thrown when the streams cannot be reached or written; the REST call answers 503. */
export class StreamsUnavailableError extends Error {
  override readonly name = 'StreamsUnavailableError';
}
