/**
 * WORKERS=2 as a real process tree, with JSON_MAX_DEPTH at its ceiling: a body nested 2,000 levels
 * used to overflow the primary's stack while it relayed the workers' messages, and the primary took
 * every worker down with it. Deeper than the limit is refused; at the ceiling, events still cross.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { io as connect, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.js';
import { JSON_DEPTH_CEILING } from '../src/json-limits.js';
import { builtMain } from './support/dist.js';
import { API_KEY, JWT_SECRET, assertSent, eventually, gatewayEnv, nextEvent } from './support/gateway.js';

const nested = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

describe(`WORKERS=2 with JSON_MAX_DEPTH=${JSON_DEPTH_CEILING}`, { timeout: 90_000 }, () => {
  let primary: ChildProcess;
  const lines: { msg: string; port?: number; workerPid?: number }[] = [];
  const sockets: Socket[] = [];
  let url = '';
  const post = async (path: string, body: string) => {
    const response = await fetch(url + path, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body });
    return { status: response.status, body: (await response.json()) as { message?: string; sockets?: number } };
  };

  before(async () => {
    primary = spawn(process.execPath, [builtMain()], {
      cwd: new URL('..', import.meta.url),
      env: gatewayEnv({ PATH: process.env.PATH ?? '', WORKERS: '2', LOG_LEVEL: 'info', JSON_MAX_DEPTH: String(JSON_DEPTH_CEILING) }),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    primary.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const complete = buffered.split('\n');
      buffered = complete.pop()!;
      for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line) as (typeof lines)[number]);
    });
    await eventually(() => lines.some((line) => line.port !== undefined), 30_000, 'the primary to listen');
    url = `http://127.0.0.1:${lines.find((line) => line.port !== undefined)!.port}`;
  });
  after(() => {
    for (const socket of sockets) socket.disconnect();
    if (primary.exitCode === null) primary.kill('SIGKILL');
    for (const pid of lines.filter((line) => line.msg === 'worker ready').map((line) => line.workerPid!)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('refuses bodies deeper than the limit with 400, and the primary and its workers live on', async () => {
    for (const levels of [JSON_DEPTH_CEILING + 1, 2000, 5000]) {
      for (const [path, body] of [
        ['/emit/deep/notification', nested(levels)],
        ['/emit/notification', `{"userIds":"deep","data":${nested(levels)}}`],
      ] as const) {
        const reply = await post(path, body);
        assert.equal(reply.status, 400, JSON.stringify(reply.body));
        assert.match(reply.body.message!, new RegExp(`deeper than ${JSON_DEPTH_CEILING} levels \\(JSON_MAX_DEPTH\\)`));
      }
    }
    assert.equal(primary.exitCode, null);
    assert.equal(lines.filter((line) => line.msg === 'worker died; starting a replacement').length, 0);
  });

  it('delivers a body nested exactly at the ceiling, across the primary, to every socket of the user', async () => {
    // One after the other: sticky balances on connection counts, which the workers report as they come.
    for (let n = 0; n < 4; n++) {
      const socket = connect(`${url}/v1/shared`, {
        auth: { token: await mintToken(JWT_SECRET, 'deep') },
        forceNew: true,
        reconnection: false,
        transports: ['polling'],
      });
      sockets.push(socket);
      await new Promise((resolve, reject) => {
        socket.once('connect', () => resolve(undefined));
        socket.once('connect_error', reject);
      });
    }
    const arrivals = Promise.all(sockets.map((socket) => nextEvent(socket, 'notification')));
    const reply = await post('/emit/deep/notification', nested(JSON_DEPTH_CEILING));
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assertSent(reply.body, 4, ['deep']);
    for (const payload of await arrivals) assert.deepEqual(payload, JSON.parse(nested(JSON_DEPTH_CEILING)));
    assert.equal(primary.exitCode, null);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });
});
