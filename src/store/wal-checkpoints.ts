/**
 * WAL checkpoints on a thread of their own, for a SQLite file written at every emit (the streams).
 *
 * SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages: it copies the
 * pages into the database file and fsyncs both files, on the calling thread. For the gateway that
 * is the event loop, blocked about 6 ms every ~125 ms under load, which made most of its
 * publish→receive tail (BENCHMARKS.md, "The latency tail"). Here the main connection never
 * checkpoints: a worker thread with a connection of its own copies what the WAL holds (PASSIVE,
 * which writers do not wait for), and once the WAL passes `restartAtPages` it also takes the write
 * lock for the little written since (RESTART) so that the next commit starts the WAL from its
 * beginning again: without that moment the WAL of a file written without pause would grow forever.
 * Commits meanwhile find the lock taken and retry on timers (store/group-commit.ts), so the event
 * loop keeps serving; but they wait, and that wait is the streams' longest under load. So the
 * thread first copies in passes without the lock until one finds little new, and waits for nothing
 * while it holds the lock (no busy handler: a RESTART that meets a reader or a commit gives the lock
 * back and is tried again a quarter of a millisecond later). Appends at 5,500/s waited 4.1 ms at
 * p99.9 and 6.9 at most with one RESTART after one pass, 2.1 and 4.9 so (BENCHMARKS.md).
 *
 * If the thread cannot start or dies, the main connection checkpoints again as SQLite does by
 * default: slower, never unbounded.
 */
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Where problems are reported (pino-compatible). */
export interface CheckpointLog {
  warn(details: object, message: string): void;
}

export interface WalCheckpointOptions {
  readonly log?: CheckpointLog;
  /** How often the thread copies the WAL into the database file (default 200 ms). */
  readonly everyMs?: number;
  /** WAL pages past which the thread makes the next commit start the WAL over (default 4,096: 16 MiB of 4 KiB pages). */
  readonly restartAtPages?: number;
}

/** The running checkpointer. */
export interface WalCheckpoints {
  /** Stops the thread (before the main connection closes, which checkpoints what is left). */
  stop(): Promise<void>;
}

/** SQLite's own default, to which the main connection returns when the thread is gone. */
const AUTOCHECKPOINT_PAGES = 1000;

/** How long the thread's RESTART keeps trying while commits (another process's, too) or readers are in its way. */
const RESTART_WAIT_MS = 1000;
/** Between two tries of a RESTART: about a commit's length under load. */
const RESTART_RETRY_MS = 0.25;
/** PASSIVE passes before a RESTART, at most. */
const PASSES_BEFORE_RESTART = 8;
/** New pages a pass may find and the RESTART still follow it at once: what it copies holding the lock. */
const FEW_PAGES = 64;

// A script, not a module file: the same text runs from src/ under tsx and from dist/, and
// better-sqlite3 is located by the main thread (`driver`), wherever the gateway was started.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
// No busy handler: SQLite's sleeps (1, 2, 5 ms...) would come while RESTART holds the write lock and
// waits for a reader; a refused RESTART gives the lock back at once and is tried again shortly.
db.pragma('busy_timeout = 0');
const pause = new Int32Array(new SharedArrayBuffer(4));
const walPages = () => db.pragma('wal_checkpoint(PASSIVE)')[0].log;
const restart = () => {
  const until = Date.now() + workerData.restartWaitMs;
  while (db.pragma('wal_checkpoint(RESTART)')[0].busy !== 0 && Date.now() < until) Atomics.wait(pause, 0, 0, workerData.retryMs);
};
let timer;
const round = () => {
  try {
    let pages = walPages();
    if (pages >= workerData.restartAtPages) {
      // RESTART copies what the WAL gained since the last pass, and syncs, holding the write lock:
      // commits wait that long. Passes without the lock first, until one finds little new.
      for (let pass = 0; pass < workerData.passes; pass++) {
        const latest = walPages();
        const gained = latest - pages;
        pages = latest;
        if (gained < workerData.fewPages) break;
      }
      restart();
    }
  } catch (error) {
    // Busy: another process held the lock for longer; the next round tries again.
    if (!String(error && error.code).startsWith('SQLITE_BUSY')) parentPort.postMessage({ error: String(error && error.message) });
  }
  timer = setTimeout(round, workerData.everyMs);
};
timer = setTimeout(round, workerData.everyMs);
parentPort.on('message', () => {
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
`;

/** Moves `db`'s checkpoints (the file at `path`) to a worker thread. */
export function checkpointOffThread(db: Database.Database, path: string, options: WalCheckpointOptions = {}): WalCheckpoints {
  const { log, everyMs = 200, restartAtPages = 4096 } = options;
  let stopping = false;
  // A thread that fails also exits: the main connection takes over, and says so, once.
  let fellBack = false;
  const fallBack = (details: object, message: string): void => {
    if (stopping || fellBack || !db.open) return;
    fellBack = true;
    db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    log?.warn({ ...details, path }, message);
  };
  let worker: Worker;
  try {
    db.pragma('wal_autocheckpoint = 0');
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    worker = new Worker(THREAD, {
      eval: true,
      workerData: {
        driver,
        path,
        everyMs,
        restartAtPages,
        restartWaitMs: RESTART_WAIT_MS,
        retryMs: RESTART_RETRY_MS,
        passes: PASSES_BEFORE_RESTART,
        fewPages: FEW_PAGES,
      },
    });
  } catch (error) {
    fallBack({ err: (error as Error).message }, 'could not start the WAL checkpoint thread; checkpointing on the main thread');
    return { stop: () => Promise.resolve() };
  }
  let lastWarning = 0;
  worker.on('message', (message: { error?: string }) => {
    // A failing checkpoint fails every round: one warning a minute says so.
    if (message.error === undefined || Date.now() - lastWarning < 60_000) return;
    lastWarning = Date.now();
    log?.warn({ err: message.error, path }, 'a WAL checkpoint failed; retrying');
  });
  worker.on('error', (error) => fallBack({ err: error.message }, 'the WAL checkpoint thread failed; checkpointing on the main thread'));
  // The thread never keeps the process alive on its own. After the listeners: adding a 'message'
  // listener refs the worker again.
  worker.unref();
  let running = true;
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      running = false;
      if (!stopping) fallBack({ code }, 'the WAL checkpoint thread exited; checkpointing on the main thread');
      resolve();
    });
  });
  return {
    stop() {
      if (!stopping && running) {
        // Held until the thread has closed its connection, so that a close is complete when it resolves.
        worker.ref();
        worker.postMessage('stop');
      }
      stopping = true;
      return exited;
    },
  };
}
