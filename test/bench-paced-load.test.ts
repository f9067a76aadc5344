/**
 * The benchmark's half-rate load driver (bench/lib/paced-load.ts) speaks HTTP/1.1 itself over plain
 * TCP sockets: these check that it reads every kind of answer the servers under test may give
 * (Content-Length, chunked, bodiless, split across reads, an error status, a server that closes
 * after an answer) and counts each request exactly once, that it really paces, and that it counts
 * the requests that had to wait for a free connection (the latency tail's note names that queue).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseResponse, runPacedLoad } from '../bench/lib/paced-load.js';

describe('paced load driver', () => {
  let server: Server;
  let url: string;
  const seen: { path: string; body: string; apiKey: string | undefined }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        seen.push({ path: req.url ?? '', body, apiKey: req.headers['x-api-key'] as string | undefined });
        const kind = (req.url ?? '').split('/')[1];
        if (kind === 'chunked') {
          // No Content-Length: Node sends the body in chunks.
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"part":');
          setImmediate(() => res.end('1}'));
        } else if (kind === 'empty') {
          res.writeHead(204).end();
        } else if (kind === 'refused') {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"busy"}');
        } else if (kind === 'slow') {
          setTimeout(() => res.writeHead(200, { 'content-length': '2' }).end('{}'), 50);
        } else if (kind === 'close') {
          res.writeHead(200, { connection: 'close', 'content-length': '2' }).end('{}');
        } else {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '15' }).end('{"delivered":1}');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('parses a response only once it is complete, and says where it ends', () => {
    const whole = Buffer.from('HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1');
    assert.deepEqual(parseResponse(whole), { status: 201, end: whole.length - 8, close: false });
    assert.equal(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}')), undefined);
    assert.equal(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Le')), undefined);
    const chunked = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{"part":\r\n2\r\n1}\r\n0\r\n\r\n');
    assert.deepEqual(parseResponse(chunked), { status: 200, end: chunked.length, close: false });
    assert.equal(parseResponse(chunked.subarray(0, chunked.length - 2)), undefined);
    const empty = Buffer.from('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
    assert.deepEqual(parseResponse(empty), { status: 204, end: empty.length, close: true });
  });

  it('answers every request once, whatever the shape of the answer, and sends what it was given', async () => {
    seen.length = 0;
    const kinds = ['plain', 'chunked', 'empty', 'refused', 'close'];
    const result = await runPacedLoad({
      baseUrl: url,
      headers: { 'x-api-key': 'secret' },
      rate: 2000,
      amount: 500,
      connections: 8,
      request: (i) => ({ path: `/${kinds[i % kinds.length]}/${i}`, body: `{"n":${i},"text":"é"}` }),
      maxMs: 20_000,
    });
    assert.equal(result.stopped, false);
    assert.equal(result.sent, 500);
    assert.equal(result.errors, 0);
    assert.equal(result.non2xx, 100, 'the 503 answers');
    assert.equal(result.ok, 400);
    assert.equal(seen.length, 500);
    assert.deepEqual(new Set(seen.map((s) => s.apiKey)), new Set(['secret']));
    const first = seen.find((s) => s.path === '/plain/0');
    assert.equal(first?.body, '{"n":0,"text":"é"}', 'the body arrives whole, its length counted in bytes');
  });

  it('spreads requests evenly over the run rather than sending them at once', async () => {
    seen.length = 0;
    const arrivals: number[] = [];
    const started = performance.now();
    const result = await runPacedLoad({
      baseUrl: url,
      headers: {},
      rate: 200,
      amount: 100,
      connections: 4,
      request: (i) => {
        arrivals.push(performance.now() - started);
        return { path: `/plain/${i}`, body: '{}' };
      },
      maxMs: 20_000,
    });
    assert.equal(result.ok, 100);
    // 100 requests at 200/s take about half a second; the 50th goes out about a quarter second in.
    assert.ok(result.elapsedMs >= 450, `elapsed ${result.elapsedMs} ms`);
    assert.ok(arrivals[50]! >= 200 && arrivals[50]! < 400, `request 50 issued at ${arrivals[50]} ms`);
  });

  it('counts the requests that waited for a connection while the server held every one', async () => {
    // One connection, a request due every 10 ms, each answered after 50 ms: most wait for the one before.
    const result = await runPacedLoad({
      baseUrl: url,
      headers: {},
      rate: 100,
      amount: 10,
      connections: 1,
      request: (i) => ({ path: `/slow/${i}`, body: '{}' }),
      maxMs: 20_000,
    });
    assert.equal(result.ok, 10);
    assert.ok((result.waitedForConnection ?? 0) >= 5 && (result.waitedForConnection ?? 0) <= 10, `waited: ${result.waitedForConnection}`);
    // The last request was due 90 ms in and could go only after nine answers of 50 ms each.
    assert.ok((result.connectionWaitMaxMs ?? 0) >= 300, `longest wait ${result.connectionWaitMaxMs} ms`);
  });
});
