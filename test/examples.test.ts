/** examples/listen.mjs, the listener of README's quick start, as a newcomer runs it. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startGateway, type TestGateway } from './support/gateway.js';
import { freePort } from './support/redis.js';

const root = new URL('..', import.meta.url).pathname;

/**
 * Runs the listener until `done(output)` says enough was printed (then stops it) or it exits; one
 * that never gets there is stopped after 30 s, and the assertions on its output tell what was missing.
 */
function listen(args: string[], done: (output: string) => boolean): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['examples/listen.mjs', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const guard = setTimeout(() => child.kill(), 30_000);
  child.once('exit', () => clearTimeout(guard));
  let output = '';
  const read = (chunk: Buffer): void => {
    output += chunk.toString();
    if (done(output)) child.kill();
  };
  child.stdout.on('data', read);
  child.stderr.on('data', read);
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('examples/listen.mjs', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it('prints the events of the user its token names', async () => {
    const token = await gw.token('listener');
    const run = listen([token, gw.url], (output) => {
      if (output.includes('connected to')) void gw.request('POST', '/emit/listener/notification', { title: 'Hello' });
      return output.includes('notification');
    });
    const { output } = await run;
    assert.match(output, /connected to http:\/\/127\.0\.0\.1:\d+ as socket /);
    assert.match(output, /notification \{"title":"Hello"\}/);
  });

  it('says why a token is refused, and exits 1', async () => {
    const { code, output } = await listen(['not-a-token', gw.url], () => false);
    assert.equal(code, 1);
    assert.match(output, /refused by http:\/\/127\.0\.0\.1:\d+: .*\(TOKEN_INVALID\)/);
  });

  it('says so when no gateway answers at the URL, instead of waiting in silence', async () => {
    // A port nobody listens on: taken, then released.
    const port = await freePort();
    const { output } = await listen([await gw.token('listener'), `http://127.0.0.1:${port}`], (text) => text.includes('cannot reach'));
    assert.match(output, new RegExp(`cannot reach a gateway at http://127\\.0\\.0\\.1:${port} .*is it running, on that port\\?`));
  });

  it('without a token, says how to mint one', async () => {
    const { code, output } = await listen([''], () => false);
    assert.equal(code, 2);
    assert.match(output, /npm run -s cli -- token --user <id>/);
  });
});
