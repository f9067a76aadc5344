/**
 * PostgreSQL for tests: a fresh schema per suite on the shared server (127.0.0.1:5432, database
 * `test`), and, for fault tests, a private server in a temp folder that a test may stop and start.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { requireService } from './services.js';

/** The shared server the suites use. */
export const SHARED_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Whether the shared PostgreSQL answers (see services.ts for what happens when it does not). */
export function postgresAvailable(): Promise<boolean> {
  return requireService('PostgreSQL at 127.0.0.1:5432', async () => {
    const client = new pg.Client({ connectionString: SHARED_PG_URL, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}

/** Runs SQL on a server as its superuser. */
export async function runSql(url: string, sql: string, values?: unknown[]): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

/** A DATABASE_URL whose connections use `schema`. */
export function urlWithSchema(base: string, schema: string): string {
  return `${base}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/** A fresh, empty schema on the shared server; `drop` removes it with everything in it. */
export async function createTestSchema(): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  const schema = `gs_test_${randomBytes(6).toString('hex')}`;
  await runSql(SHARED_PG_URL, `CREATE SCHEMA ${schema}`);
  return {
    schema,
    url: urlWithSchema(SHARED_PG_URL, schema),
    drop: async () => void (await runSql(SHARED_PG_URL, `DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
  };
}

/** A private PostgreSQL server in a temp folder, on a free port, that a test may stop and start. */
export interface PrivatePostgres {
  readonly port: number;
  /** URL of database `postgres` as user `postgres` (trust auth: any password is accepted). */
  url(password?: string): string;
  start(): void;
  /** Stops the server (fast shutdown: clients are disconnected). */
  stop(): void;
  /** Stops it if running and deletes its folder. */
  destroy(): void;
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  return version === undefined ? undefined : join(root, version, 'bin');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether a private server can be created here (PostgreSQL's binaries are installed). */
export function privatePostgresAvailable(): Promise<boolean> {
  return requireService('PostgreSQL binaries (initdb, pg_ctl)', async () => {
    if (binDir() === undefined) throw new Error('no /usr/lib/postgresql/*/bin');
    // As root, the server runs as the `postgres` OS user (it refuses root).
    if (userInfo().uid === 0) execFileSync('id', ['postgres'], { stdio: 'pipe' });
  });
}

/** Creates and starts a private server. Needs the `postgres` OS user when running as root. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  if (bin === undefined) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'gs-pg-'));
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  // initdb and the server refuse to run as root.
  const run = (tool: string, args: string[]): void => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    execFileSync(file, argv, { stdio: 'pipe', timeout: 60_000 });
  };
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  let running = false;
  const handle: PrivatePostgres = {
    port,
    url: (password) => `postgres://postgres${password ? `:${password}` : ''}@127.0.0.1:${port}/postgres`,
    start() {
      run('pg_ctl', [
        '-D',
        data,
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-t',
        '30',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
        'start',
      ]);
      running = true;
    },
    stop() {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
      running = false;
    },
    destroy() {
      if (running) handle.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  handle.start();
  return handle;
}
