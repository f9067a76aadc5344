/**
 * Keys never reach the log, also when a caller puts one in the query string (`?apiKey=...`), which
 * the gateway refuses with a 400 naming the parameter. The gateway runs as a process, as `npm start`
 * runs it, so the test reads the log it really writes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { builtMain } from './support/dist.js';
import { API_KEY, eventually, gatewayEnv } from './support/gateway.js';

interface LogLine {
  msg: string;
  url?: string;
  status?: number;
  key?: string;
  port?: number;
}

describe('the request log and keys in query strings', { timeout: 90_000 }, () => {
  let child: ChildProcess;
  let output = '';
  let url = '';
  const lines = (): LogLine[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);

  before(async () => {
    child = spawn(process.execPath, [builtMain()], {
      cwd: new URL('..', import.meta.url),
      env: gatewayEnv({ PATH: process.env.PATH ?? '', LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually(() => lines().some((line) => line.port !== undefined), 60_000, 'the gateway to listen');
    url = `http://127.0.0.1:${lines().find((line) => line.port !== undefined)!.port}`;
  });
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('refuses a key or token in the query string with 400 naming the parameter, on every route', async () => {
    const attempts: [string, string][] = [
      ['GET', `/stats?apiKey=${API_KEY}`],
      ['POST', `/emit/alice/notification?x-api-key=${API_KEY}`],
      ['GET', `/metrics?api_key=${API_KEY}`],
      ['GET', `/readyz?key=${API_KEY}`],
      ['GET', `/healthz?token=${API_KEY}`],
      ['GET', `/conversations/prospect/emit/message/m1?Access_Token=${API_KEY}`],
      ['GET', `/no/such/route?jwt=${API_KEY}`],
    ];
    for (const [method, path] of attempts) {
      // With the right key in the header too: the query string is refused, not ignored.
      const response = await fetch(url + path, { method, headers: { 'x-api-key': API_KEY } });
      const body = (await response.json()) as { errno: number; code: string; message: string };
      assert.equal(response.status, 400, path);
      assert.equal(body.code, 'VALIDATION_ERROR');
      const name = new URL(path, url).searchParams.keys().next().value;
      assert.match(body.message, new RegExp(`^query\\.${name}: keys and tokens are refused in the query string.*x-api-key header`), path);
      assert.ok(!body.message.includes(API_KEY), 'the answer does not echo the key');
    }
  });

  it('still serves a query string that carries no credential', async () => {
    const response = await fetch(`${url}/healthz?probe=lb-1`);
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  it('logs every request without the key, query values included', async () => {
    const stats = await fetch(`${url}/stats`, { headers: { 'x-api-key': API_KEY } });
    assert.equal(stats.status, 200);
    await stats.arrayBuffer();
    await eventually(() => lines().some((line) => line.url === '/stats' && line.status === 200), 10_000, 'the /stats line');
    await eventually(() => lines().filter((line) => line.msg === 'request' && line.status === 400).length >= 7, 10_000, 'the refused requests in the log');

    assert.ok(!output.includes(API_KEY), 'the key appears in the log');
    const refused = lines().find((line) => line.msg === 'request' && line.url?.startsWith('/stats?'));
    assert.equal(refused?.url, '/stats?[redacted]');
    const granted = lines().find((line) => line.url === '/stats' && line.status === 200);
    assert.match(granted?.key ?? '', /^[0-9a-f]{12}$/, 'the id of the key, not the key');
  });
});
