/**
 * Workload 4, conversation fan-out: `GET /conversations/prospect/emit/message/:messageID` for a
 * conversation of 5 users, each with one connected socket, so every request reads the message, its
 * sender and its conversation from the store and sends 5 payloads computed per recipient. Runs on
 * the embedded SQLite store and on PostgreSQL, each run on a fresh database (a temporary DATA_DIR,
 * or a new schema on the shared server) filled by the gateway's own importer
 * (`general-socket import`). Only the gateway has this endpoint; no baseline does.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { REPO_ROOT } from '../lib/server-process.js';
import type { Target } from '../targets.js';
import { burst, type BurstFigures } from './burst.js';
import {
  connectUsers,
  fmt,
  measureRuns,
  reproduce,
  saturationNote,
  userIds,
  withServer,
  type Workload,
  type WorkloadContext,
  type WorkloadOutcome,
} from './workload.js';

/** The shared PostgreSQL the harness makes its schemas in (see GUIDE: trust auth, database `test`). */
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const PARTICIPANTS = 5;
const MESSAGES = 100;
const CONVERSATION = 'bench-convo-0';
const CONTACT = 'bench-contact-0';
const EVENT = 'prospect_message';

interface StoreSubject {
  name: 'sqlite' | 'postgres';
  title: string;
}

/** One row: a store, served by the gateway or by another gateway target (WORKERS=2). */
interface Subject {
  /** The store's name for the one-process gateway, `<store>-<target>` otherwise. */
  name: string;
  title: string;
  store: StoreSubject;
  target: Target;
}

/** 5 users, a contact, one conversation of all 5, and MESSAGES messages in it (half from the contact, half from a user). */
function documents(users: readonly string[]): object {
  const createdAt = { $date: '2025-10-13T10:30:00.000Z' };
  return {
    users: users.map((id, i) => ({
      _id: id,
      name: `Agent ${i}`,
      email: `agent${i}@example.com`,
      role: 'agent',
      password: '$2b$10$notarealhashnotarealhashnotarealhashnotarealhash00',
      createdAt,
    })),
    contacts: [
      { _id: CONTACT, name: 'John Doe', email: 'john.doe@example.net', phone: '+1 212 555 0101', image: 'https://images.example.com/contacts/john-doe.jpg' },
    ],
    conversationprospects: [
      {
        _id: CONVERSATION,
        contact_id: CONTACT,
        users,
        unread_count: Object.fromEntries(users.map((id, i) => [id, i])),
        is_open: true,
        last_activity: 'bench-msg-0',
        createdAt,
      },
    ],
    communications: Array.from({ length: MESSAGES }, (_, i) => ({
      _id: `bench-msg-${i}`,
      type: i % 2 === 0 ? 'INCOMING' : 'OUTGOING',
      data: `Message ${i}: is the house on Elm Street still available for a visit this week?`,
      sent_by: i % 2 === 0 ? CONTACT : users[i % users.length],
      conversation_id: [CONVERSATION],
      createdAt,
    })),
  };
}

/** Runs `general-socket import FILE` against the database `env` names; rejects with its output on failure. */
function importDocuments(file: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'import', file], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`general-socket import exited ${code}: ${output.slice(-1000)}`))));
  });
}

async function runSql(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why PostgreSQL cannot be used, or null when it answers. */
async function postgresUnavailable(): Promise<string | null> {
  try {
    await runSql('SELECT 1');
    return null;
  } catch (error) {
    return `PostgreSQL at 127.0.0.1:5432 is unavailable (${(error as Error).message})`;
  }
}

/**
 * A fresh database for one run: the environment that points the importer and the gateway at it,
 * and a cleanup that removes it.
 */
async function freshDatabase(store: StoreSubject['name'], work: string): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  const dataDir = join(work, 'data');
  if (store === 'sqlite') return { env: { DATA_DIR: dataDir }, drop: async () => undefined };
  const schema = `gs_bench_${randomBytes(6).toString('hex')}`;
  await runSql(`CREATE SCHEMA ${schema}`);
  return {
    env: { DATA_DIR: dataDir, DATABASE_URL: `${PG_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}` },
    drop: () => runSql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

async function measureStore(ctx: WorkloadContext, { target: gateway, store, name }: Subject, failures: string[]): Promise<BurstFigures> {
  const users = userIds(PARTICIPANTS);
  const work = mkdtempSync(join(tmpdir(), `bench-conversation-${store.name}-`));
  const database = await freshDatabase(store.name, work);
  try {
    const file = join(work, 'documents.json');
    writeFileSync(file, JSON.stringify(documents(users)));
    const env = { ...gateway.env, ...database.env };
    await importDocuments(file, env);
    return await withServer(
      ctx,
      gateway,
      async (server) => {
        const { pool } = await connectUsers(ctx, gateway, server.url, users);
        try {
          const path = (i: number): string => `/conversations/prospect/emit/message/bench-msg-${i % MESSAGES}`;
          // One call first, so a wrong setup shows as what it is rather than as lost deliveries.
          const probe = await fetch(`${server.url}${path(0)}`, { headers: gateway.headers });
          const answer = await probe.text();
          if (probe.status !== 200 || !answer.includes(`"sockets":${PARTICIPANTS}`))
            throw new Error(`the message endpoint answered ${probe.status} ${answer.slice(0, 300)}`);
          await pool.reset();
          return await burst(
            {
              label: name,
              url: server.url,
              servers: [server],
              headers: gateway.headers,
              method: 'GET',
              connections: ctx.options.sizes.httpConnections,
              amount: ctx.options.sizes.conversationRequests,
              request: (i) => ({ path: path(i), body: '' }),
              event: EVENT,
              warmupEvent: EVENT,
              pool,
              profileDir: ctx.options.profileDir,
              deliveriesPerRequest: PARTICIPANTS,
              everySocketGetsAll: true,
            },
            failures,
          );
        } finally {
          await pool.close();
        }
      },
      env,
    );
  } finally {
    await database.drop().catch((error: unknown) => failures.push(`${store.name}: could not drop its schema: ${(error as Error).message}`));
    rmSync(work, { recursive: true, force: true });
  }
}

export const conversation: Workload = {
  name: 'conversation',
  title: 'Conversation fan-out',
  async run(ctx: WorkloadContext): Promise<WorkloadOutcome> {
    const { sizes } = ctx.options;
    const gateway = ctx.targets.find((t) => t.name === 'gateway');
    // The same gateway on two cores, when selected: the only other target with these endpoints.
    const others = gateway ? ctx.targets.filter((t) => t.unpinned?.versus === gateway.name) : [];
    const method = `${fmt(sizes.conversationRequests)} × \`GET /conversations/prospect/emit/message/:messageID\` over ${MESSAGES} messages of one conversation of ${PARTICIPANTS} users, each user with one connected socket, ${sizes.httpConnections} keep-alive connections (autocannon), as fast as the gateway answers. Each request reads the message, its sender and the conversation (batched store queries), builds ${PARTICIPANTS} payloads with \`is_sender\` per recipient, and sends them; every socket must receive every request's event exactly once. Each run starts on a fresh database filled by \`general-socket import\`: a new SQLite file in a temporary DATA_DIR, or a new schema on the PostgreSQL at 127.0.0.1:5432 (default pool of 10 connections).`;
    const base = {
      name: 'conversation',
      title: 'Conversation fan-out',
      method,
      reproduce: reproduce(ctx, 'conversation', gateway ? [gateway, ...others] : [], [
        `--conversation-requests ${sizes.conversationRequests}`,
        `--connections ${sizes.httpConnections}`,
      ]),
    };
    if (!gateway)
      return { ...base, tables: [], notes: ['Not measured: only the `gateway` target has conversation endpoints, and it was not selected.'], failures: [] };

    const notes: string[] = [];
    const stores: StoreSubject[] = [{ name: 'sqlite', title: 'embedded SQLite (DATA_DIR)' }];
    const pgProblem = await postgresUnavailable();
    if (pgProblem) notes.push(`PostgreSQL not measured: ${pgProblem}.`);
    else stores.push({ name: 'postgres', title: 'PostgreSQL 127.0.0.1:5432' });

    const subjects: Subject[] = stores.flatMap((store) => [
      { name: store.name, title: store.title, store, target: gateway },
      ...others.map((target) => ({ name: `${store.name}-${target.name}`, title: `${store.title}, ${target.name}`, store, target })),
    ]);
    const results = await measureRuns(ctx, 'conversation', subjects, (subject, failures) => measureStore(ctx, subject, failures));
    const m = (name: string, key: string): number => results.median(name, key);
    const rows = subjects.map((s) => [
      s.title,
      fmt(m(s.name, 'rps')),
      fmt(m(s.name, 'httpP50'), 2),
      fmt(m(s.name, 'httpP99'), 2),
      fmt(m(s.name, 'deliveriesPerSec')),
      fmt(m(s.name, 'cpuUsPerRequest'), 1),
      `${fmt(m(s.name, 'loadBusy'))}%`,
      `${fmt(results.sum(s.name, 'delivered'))} / ${fmt(results.sum(s.name, 'expected'))}`,
      results.ok(s.name),
    ]);
    if (stores.some((s) => s.name === 'postgres')) {
      notes.push(
        "PostgreSQL is the shared server of this machine, not pinned: its backend processes run on whichever core is free, so part of their work lands on the load generator's core; gateway CPU per request excludes it.",
      );
    }
    notes.push(...saturationNote(new Map(subjects.map((s) => [s.title, m(s.name, 'loadBusy')]))));
    for (const target of others) {
      const ratios = stores.map((store) => `${fmt(m(`${store.name}-${target.name}`, 'rps') / m(store.name, 'rps'), 2)}× on ${store.title}`);
      notes.push(`${target.unpinned!.note} Req/s: ${ratios.join(', ')}, against gateway's.`);
    }
    return {
      ...base,
      tables: [
        {
          columns: [
            'store',
            'req/s',
            'HTTP p50 ms',
            'HTTP p99 ms',
            'deliveries/s',
            'gateway CPU µs/request',
            'load-gen CPU busy',
            'delivered / expected (all runs)',
            'runs ok',
          ],
          rows,
        },
      ],
      notes: [...notes, ...results.disturbances],
      failures: results.failures,
      figures: Object.fromEntries(subjects.map((s) => [s.name, { rps: m(s.name, 'rps'), httpP99: m(s.name, 'httpP99') }])),
    };
  },
};
