/**
 * The gateway as a user runs it: `npm start` with nothing configured, the CLI's token, graceful
 * shutdown on SIGTERM with a request in flight, and production's refusal to start without keys.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { io as connect, type Socket } from 'socket.io-client';
import { builtMain, ensureBuilt } from './support/dist.js';
import { nextEvent, postDuringSignal } from './support/gateway.js';

const root = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);

/** Env without anything the gateway reads, so the test sees the defaults. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return { ...env, ...extra };
}

/** Resolves with the port once the gateway logs that it listens. */
function listeningPort(child: ChildProcess, output: { text: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output.text}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output.text += chunk.toString();
      const match = /general-socket listening on [^:]+:(\d+)/.exec(output.text);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${output.text}`)));
  });
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

describe('npm start with nothing configured', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gs-start-'));
  const output = { text: '' };
  let child: ChildProcess;
  let port: number;
  let socket: Socket | undefined;
  let token = '';

  before(async () => {
    // `--ignore-scripts` skips prestart's rebuild: dist/ is built once for the whole suite.
    ensureBuilt();
    child = spawn('npm', ['start', '--ignore-scripts'], {
      cwd: root,
      env: cleanEnv({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    port = await listeningPort(child, output);
  });
  after(() => {
    socket?.disconnect();
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('generates development secrets, says where they are, and serves', async () => {
    assert.match(output.text, new RegExp(`generated INTERNAL_API_KEY, JWT_SECRET, SCRAPER_API_KEY from ${dataDir}/dev-secrets.json`));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
  });

  it('accepts a token minted by the CLI and delivers an emit made with the generated key', async () => {
    const { stdout } = await run('node', ['--import', 'tsx', 'src/cli/main.ts', 'token', '--user', 'newcomer'], {
      cwd: root,
      env: cleanEnv({ DATA_DIR: dataDir }),
    });
    token = stdout.trim();
    socket = connect(`http://127.0.0.1:${port}/v1/shared`, { auth: { token }, transports: ['websocket'], reconnection: false });
    await new Promise((resolve, reject) => {
      socket!.once('connect', () => resolve(undefined));
      socket!.once('connect_error', reject);
    });
    const { apiKey } = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as { apiKey: string };
    const arrival = nextEvent(socket, 'welcome');
    const reply = await fetch(`http://127.0.0.1:${port}/emit/newcomer/welcome`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'world' }),
    });
    assert.equal(reply.status, 200);
    assert.deepEqual(await arrival, { hello: 'world' });
  });

  it('on SIGTERM finishes the request in flight, disconnects sockets and exits 0', async () => {
    const { apiKey } = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as { apiKey: string };
    const disconnected = new Promise<string>((resolve) => socket!.once('disconnect', resolve));
    // A request whose body is still arriving when the signal comes.
    const inFlight = postDuringSignal(port, '/emit/newcomer/late', apiKey, () => child.kill('SIGTERM'));
    const reply = await inFlight;
    assert.equal(reply.status, 200, reply.body);
    // "transport close", not "io server disconnect": a stock client reconnects after the first, never after the second.
    assert.equal(await disconnected, 'transport close');
    assert.equal(await exited(child), 0);
  });

  it('never wrote a key, secret or token to its log', () => {
    const secrets = JSON.parse(readFileSync(join(dataDir, 'dev-secrets.json'), 'utf8')) as Record<string, string>;
    for (const [name, value] of Object.entries({ ...secrets, token })) assert.ok(!output.text.includes(value), `${name} appears in the log`);
    assert.match(output.text, /"msg":"request"/, 'requests are logged');
  });
});

describe('production mode', () => {
  it('refuses to start without keys, naming the variables to set', async () => {
    const child = spawn(process.execPath, [builtMain()], {
      cwd: root,
      env: cleanEnv({ NODE_ENV: 'production', PORT: '0', DATA_DIR: mkdtempSync(join(tmpdir(), 'gs-prod-')) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    assert.equal(await exited(child), 1);
    assert.match(stderr, /NODE_ENV=production refuses to start without INTERNAL_API_KEY \(or API_KEYS\) and JWT_SECRET \(or JWT_PUBLIC_KEY, or JWT_JWKS_URL\)/);
  });
});
