/**
 * Each request's logger (src/http/request-log.ts) makes its pino child only when it has something to
 * write: a request at LOG_LEVEL=warn that logs nothing costs no child, and what is written is what
 * Fastify's own child would have written (the request id, secrets redacted).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { requestLogger } from '../src/http/request-log.js';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const parent = pino({ level, redact: ['*.token'] }, stream);
  let children = 0;
  const child = parent.child;
  // Counts the children made of the gateway's logger: the cost this logger exists to avoid. Pino's
  // children inherit this property, so it must call pino's own with the logger it was called on.
  parent.child = function (this: typeof parent, ...args: Parameters<typeof child>) {
    if (this === parent) children++;
    return child.apply(this, args);
  } as typeof parent.child;
  return { parent, lines, children: () => children };
}

describe("a request's logger", () => {
  it('makes no child for lines below the level, and writes the rest with the request id and secrets redacted', () => {
    const { parent, lines, children } = capture('warn');
    const log = requestLogger(parent, { reqId: 'req-7' }, {});
    assert.equal(log.level, 'warn');
    log.info({ userId: 'alice' }, 'request');
    log.debug('details');
    assert.equal(children(), 0, 'no child for lines nobody reads');
    assert.equal(lines.length, 0);

    log.warn({ body: { token: 'sk-secret' } }, 'odd request');
    log.error(new Error('boom'), 'request failed');
    assert.equal(children(), 1, 'one child, made once');
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.reqId, 'req-7');
    assert.equal(lines[0]!.msg, 'odd request');
    assert.deepEqual(lines[0]!.body, { token: '[Redacted]' });
    assert.equal(lines[1]!.reqId, 'req-7');
    assert.equal((lines[1]!.err as { message: string }).message, 'boom');
  });

  it("takes a level of its own for one request, leaving the gateway's", () => {
    const { parent, lines } = capture('warn');
    const log = requestLogger(parent, { reqId: 'req-8' }, {});
    log.level = 'debug';
    log.debug('now written');
    assert.equal(parent.level, 'warn');
    assert.equal(log.level, 'debug');
    assert.deepEqual(
      lines.map((line) => [line.reqId, line.msg]),
      [['req-8', 'now written']],
    );
  });

  it("gives children that carry the request's bindings", () => {
    const { parent, lines } = capture('info');
    requestLogger(parent, { reqId: 'req-9' }, {}).child({ part: 'idempotency' }).info('stored');
    assert.deepEqual(
      lines.map((line) => [line.reqId, line.part, line.msg]),
      [['req-9', 'idempotency', 'stored']],
    );
  });
});
