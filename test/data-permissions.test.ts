/**
 * Local state is the owner's only: the SQLite file holds user documents and dev-secrets.json the
 * keys, so other users of the machine must not read them. The gateway creates its data folder 0700
 * and its database files 0600 (SQLite's -wal and -shm included), tightens a database file an older
 * version left readable, and warns at start when dev-secrets.json is readable by others.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devSecretsExposure, loadDevSecrets } from '../src/dev-secrets.js';
import { openSqliteStore, sqlitePath } from '../src/store/sqlite.js';
import { builtMain } from './support/dist.js';
import { eventually, gatewayEnv, startGateway } from './support/gateway.js';

const modeOf = (path: string): number => statSync(path).mode & 0o777;

describe('data files', () => {
  it('are created owner-only: the folder 0700, the database, the event history and their -wal and -shm files 0600', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'gs-perm-')), 'nested', 'data');
    const gw = await startGateway({ DATA_DIR: dataDir });
    try {
      // A write makes SQLite create its -wal and -shm files.
      await gw.gateway.store.importDocuments({ users: [{ _id: 'u1', name: 'Alice', password: 'hash' }] });
      await gw.gateway.streams!.append([{ userId: 'u1', event: 'notification', data: { secret: 'payload' } }]);
      assert.equal(modeOf(dataDir), 0o700, 'data folder');
      assert.equal(modeOf(join(dataDir, '..')), 0o700, 'every folder the gateway created');
      const files = readdirSync(dataDir).filter((file) => file.startsWith('general-socket.sqlite'));
      assert.deepEqual(files.sort(), ['general-socket.sqlite', 'general-socket.sqlite-shm', 'general-socket.sqlite-wal']);
      for (const file of files) assert.equal(modeOf(join(dataDir, file)), 0o600, file);
      const history = readdirSync(dataDir).filter((file) => file.startsWith('streams.sqlite'));
      assert.deepEqual(history.sort(), ['streams.sqlite', 'streams.sqlite-shm', 'streams.sqlite-wal']);
      for (const file of history) assert.equal(modeOf(join(dataDir, file)), 0o600, file);
    } finally {
      await gw.close();
    }
  });

  it('tightens a database file that an older version left readable by others', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gs-perm-'));
    const path = sqlitePath(dataDir);
    const store = openSqliteStore(path);
    await store.importDocuments({ users: [{ _id: 'u1' }] });
    await store.close();
    chmodSync(path, 0o644);
    const reopened = openSqliteStore(path);
    try {
      assert.equal(modeOf(path), 0o600);
      assert.equal((await reopened.find('users', ['u1'])).size, 1, 'the documents are still there');
    } finally {
      await reopened.close();
    }
  });

  it('keeps generated development secrets in a 0600 file inside a 0700 folder', () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'gs-perm-')), 'data');
    loadDevSecrets(dataDir);
    assert.equal(modeOf(dataDir), 0o700);
    assert.equal(modeOf(join(dataDir, 'dev-secrets.json')), 0o600);
    assert.equal(devSecretsExposure(dataDir), undefined);
  });
});

describe('dev-secrets.json readable by others', () => {
  it('makes the gateway warn at start, naming the file and the fix', { timeout: 90_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gs-perm-'));
    const secrets = join(dataDir, 'dev-secrets.json');
    writeFileSync(
      secrets,
      JSON.stringify({ apiKey: 'dev_key_0123456789abcdef', jwtSecret: 'dev-jwt-secret-0123456789abcdef0123', scraperKey: 'scraper_0123456789abcdef' }),
    );
    chmodSync(secrets, 0o644);
    assert.match(devSecretsExposure(dataDir) ?? '', /can be read by other users of this machine \(mode 644\).*chmod 600/);

    // As a user starts it: no keys configured, so the generated ones in that file are used.
    const env = gatewayEnv({ PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', NODE_ENV: 'development', DATA_DIR: dataDir });
    for (const name of ['INTERNAL_API_KEY', 'JWT_SECRET', 'SCRAPER_API_KEY']) delete env[name];
    const child = spawn(process.execPath, [builtMain()], { cwd: new URL('..', import.meta.url), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await eventually(() => output.includes('listening on'), 60_000, 'the gateway to listen');
      const warning = output.split('\n').find((line) => line.includes('can be read by other users'));
      assert.ok(warning, output);
      const parsed = JSON.parse(warning) as { level: number; msg: string };
      assert.equal(parsed.level, 40, 'a warning');
      assert.ok(parsed.msg.includes(secrets) && parsed.msg.includes(`chmod 600 ${secrets}`), parsed.msg);
      assert.ok(!output.includes('dev_key_0123456789abcdef'), 'the key itself is not logged');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
