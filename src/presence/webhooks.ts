/**
 * Webhooks: a signed POST to every `WEBHOOK_URLS` endpoint for each transition the directory reports
 * to this node. Deliveries wait in this node's own bounded queue and go out a few at a time, so a slow
 * or dead endpoint costs memory up to `WEBHOOK_QUEUE_SIZE` and nothing else: no emit waits for it.
 *
 * The format (README, "Webhooks"): body `{ id, type, time, data }`; headers `x-webhook-id` (the same
 * on every retry, to de-duplicate), `x-webhook-timestamp` (Unix seconds of this attempt) and
 * `x-webhook-signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with WEBHOOK_SECRET>`.
 */
import type { FastifyBaseLogger } from 'fastify';
import { createHmac, randomUUID } from 'node:crypto';
import type { Transition } from './directory.js';

/** The signature header's value for a body sent at `timestamp` (Unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a webhook's body says. */
export interface WebhookBody {
  readonly id: string;
  readonly type: Transition['kind'];
  /** When the transition happened (ISO 8601). */
  readonly time: string;
  readonly data: { readonly userId: string; readonly onlineSince?: string } | { readonly socketId: string };
}

/** What became of a delivery, for the metrics. */
export type WebhookOutcome = 'delivered' | 'attempt_failed' | 'gave_up' | 'dropped';

/** The webhooks of one node. */
export interface Webhooks {
  /** Queues `transition` for every endpoint; never blocks, never throws. */
  send(transition: Transition): void;
  /** Deliveries waiting or in flight. */
  pending(): number;
  /** Calls `listener` with each delivery's outcome. */
  onOutcome(listener: (outcome: WebhookOutcome, type: Transition['kind']) => void): void;
  /** Gives the queued deliveries' first attempts up to `graceMs` to finish, then drops the rest (logged). */
  close(graceMs?: number): Promise<void>;
}

interface Job {
  readonly url: string;
  readonly type: Transition['kind'];
  readonly id: string;
  readonly body: string;
  readonly firstAt: number;
  attempt: number;
  dueAt: number;
}

/** Deliveries in flight at once, per node: enough for a burst, few enough for a slow endpoint. */
const IN_FLIGHT = 8;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

export function bodyOf(transition: Transition, id: string = randomUUID()): WebhookBody {
  const time = new Date(transition.at).toISOString();
  if (transition.kind === 'user.online') return { id, type: transition.kind, time, data: { userId: transition.userId } };
  if (transition.kind === 'user.offline') {
    const onlineSince = transition.since === undefined ? {} : { onlineSince: new Date(transition.since).toISOString() };
    return { id, type: transition.kind, time, data: { userId: transition.userId, ...onlineSince } };
  }
  return { id, type: transition.kind, time, data: { socketId: transition.socketId } };
}

/** Builds the webhooks of one node; with no URL, `send` does nothing. */
export function createWebhooks(options: {
  urls: readonly string[];
  secret: string;
  timeoutMs: number;
  retryForMs: number;
  queueSize: number;
  log: FastifyBaseLogger;
}): Webhooks {
  const { urls, secret, timeoutMs, retryForMs, queueSize, log } = options;
  const ready: Job[] = [];
  const waiting: Job[] = [];
  const inFlight = new Set<AbortController>();
  const listeners: ((outcome: WebhookOutcome, type: Transition['kind']) => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let dropped = 0;
  let idle: (() => void) | undefined;

  const count = (outcome: WebhookOutcome, type: Transition['kind']): void => {
    for (const listener of listeners) listener(outcome, type);
  };
  const pending = (): number => ready.length + waiting.length + inFlight.size;

  /** Moves due retries to the ready queue and arms the timer for the next one. */
  const wake = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (let i = waiting.length - 1; i >= 0; i--) {
      const job = waiting[i]!;
      if (job.dueAt <= now) {
        waiting.splice(i, 1);
        ready.push(job);
      } else next = Math.min(next, job.dueAt);
    }
    if (Number.isFinite(next) && !closed) {
      timer = setTimeout(wake, next - now);
      timer.unref();
    }
    pump();
  };

  const pump = (): void => {
    while (inFlight.size < IN_FLIGHT && ready.length > 0) void attempt(ready.shift()!);
    if (pending() === 0 || (closed && ready.length === 0 && inFlight.size === 0)) idle?.();
  };

  const attempt = async (job: Job): Promise<void> => {
    const controller = new AbortController();
    inFlight.add(controller);
    const deadline = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms (WEBHOOK_TIMEOUT_MS)`)), timeoutMs);
    job.attempt++;
    let problem: string | undefined;
    try {
      const timestamp = Math.floor(Date.now() / 1000);
      const response = await fetch(job.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'general-socket-webhooks',
          'x-webhook-id': job.id,
          'x-webhook-timestamp': String(timestamp),
          'x-webhook-signature': signWebhook(secret, timestamp, job.body),
        },
        body: job.body,
        redirect: 'manual',
        signal: controller.signal,
      });
      // The answer's body is not read: an endpoint could send anything, of any size.
      await response.body?.cancel().catch(() => undefined);
      if (response.status < 200 || response.status >= 300) problem = `answered HTTP ${response.status}`;
    } catch (error) {
      problem = controller.signal.aborted ? String((controller.signal.reason as Error)?.message ?? 'aborted') : (error as Error).message;
    } finally {
      clearTimeout(deadline);
      inFlight.delete(controller);
    }
    if (problem === undefined) {
      count('delivered', job.type);
    } else {
      count('attempt_failed', job.type);
      const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (job.attempt - 1)) * (0.5 + Math.random() / 2);
      const endpoint = redactEndpoint(job.url);
      if (closed || Date.now() + delay - job.firstAt > retryForMs) {
        count('gave_up', job.type);
        log.error({ webhook: job.id, type: job.type, endpoint, attempts: job.attempt, problem }, 'webhook given up (WEBHOOK_RETRY_FOR_MS)');
      } else {
        log.warn({ webhook: job.id, type: job.type, endpoint, attempt: job.attempt, problem, retryInMs: Math.round(delay) }, 'webhook failed; retrying');
        job.dueAt = Date.now() + delay;
        waiting.push(job);
        wake();
      }
    }
    pump();
  };

  return {
    send(transition) {
      if (urls.length === 0 || closed) return;
      const body = bodyOf(transition);
      const text = JSON.stringify(body);
      for (const url of urls) {
        if (pending() >= queueSize) {
          count('dropped', transition.kind);
          // One line for the first drop and one per 1000 after it: a dead endpoint must not flood the log.
          if (dropped++ % 1000 === 0)
            log.error({ type: transition.kind, dropped, queueSize }, 'webhook dropped: the queue is full (WEBHOOK_QUEUE_SIZE); is the endpoint down?');
          continue;
        }
        ready.push({ url, type: transition.kind, id: body.id, body: text, firstAt: Date.now(), attempt: 0, dueAt: 0 });
      }
      pump();
    },
    pending,
    onOutcome: (listener) => void listeners.push(listener),
    async close(graceMs = 2000) {
      closed = true;
      clearTimeout(timer);
      const retries = waiting.splice(0);
      for (const job of retries) count('gave_up', job.type);
      if (ready.length > 0 || inFlight.size > 0) {
        await new Promise<void>((resolve) => {
          idle = resolve;
          // Not unref'd: the wait is bounded, and a closing gateway must not exit before it.
          setTimeout(resolve, graceMs);
          pump();
        });
      }
      const left = ready.splice(0);
      for (const job of left) count('gave_up', job.type);
      for (const controller of inFlight) controller.abort(new Error('the gateway is shutting down'));
      if (retries.length + left.length > 0)
        log.warn({ given_up: retries.length + left.length }, 'webhooks still waiting when the gateway stopped were given up');
    },
  };
}

/** An endpoint for the logs: its origin and path, never its query (which may carry a token). */
function redactEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}${parsed.search === '' ? '' : '?[redacted]'}`;
  } catch {
    return '[invalid URL]';
  }
}
