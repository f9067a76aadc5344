/** One structured log line per request, with no headers and no query values (so no keys or tokens). */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';

/** Levels at which info lines are written. */
const WRITES_INFO = new Set(['info', 'debug', 'trace']);

/** Replaces Fastify's two lines per request ("incoming", "completed") with one. */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    // Below info (LOG_LEVEL=warn...) only failures are written: skip building a line nobody reads.
    if (!error && !WRITES_INFO.has(request.log.level)) return;
    const line = {
      method: request.method,
      url: withoutQueryValues(request.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      key: request.apiKeyId,
    };
    if (error) request.log.error({ ...line, err: error }, 'request failed');
    else request.log.info(line, 'request');
  }
}

/**
 * The URL as logged: no route reads the query string, and a key pasted there (`?apiKey=...`, which
 * the gateway refuses) must not reach the log, whatever the parameter is called.
 */
export function withoutQueryValues(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : `${url.slice(0, at)}?[redacted]`;
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's logger that makes its pino child only when something is logged at an enabled level.
 * Fastify's default makes one for every request, and pino formats and redacts the child's bindings
 * up front: 7% of all the bytes a gateway allocated per emit at LOG_LEVEL=warn, where nothing is
 * written (BENCHMARKS.md, issue 15). The child it makes is the one Fastify would have made, so
 * redaction and the request id are unchanged.
 */
class RequestLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.child().level = level;
  }

  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.log('error', args);
  }
  warn(...args: unknown[]): void {
    this.log('warn', args);
  }
  info(...args: unknown[]): void {
    this.log('info', args);
  }
  debug(...args: unknown[]): void {
    this.log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.log('trace', args);
  }
  silent(): void {}

  child(bindings?: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return bindings === undefined ? this.made : this.made.child(bindings, options);
  }

  private log(level: Level, args: unknown[]): void {
    // Below the parent's level, as long as nobody changed this request's own: nothing to make.
    if (this.made === undefined && !isLevelEnabled(this.parent, level)) return;
    (this.child()[level] as (...args: unknown[]) => void)(...args);
  }
}

/** Pino says; a logger that cannot is asked to log everything. */
function isLevelEnabled(logger: FastifyBaseLogger, level: Level): boolean {
  const pino = logger as Partial<Pick<Logger, 'isLevelEnabled'>>;
  return typeof pino.isLevelEnabled === 'function' ? pino.isLevelEnabled(level) : true;
}

/** Fastify's `childLoggerFactory`: each request's logger, made lazily (see RequestLogger). */
export function requestLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new RequestLogger(parent, bindings, options) as unknown as FastifyBaseLogger;
}
