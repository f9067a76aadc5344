/**
 * Group commit for the gateway's SQLite files: the writes asked for in one turn of the event loop
 * run in one BEGIN IMMEDIATE transaction at setImmediate (or at once past `flushAt` queued items),
 * and their promises settle after the commit. A commit's cost is the pages it writes and its
 * syscalls, not its statements: a hundred emits arriving together pay for one commit, not a hundred.
 * BEGIN IMMEDIATE takes the write lock first, so WORKERS processes sharing the file serialize their
 * batches, and what a job reads inside its batch no other process can change before it commits.
 *
 * With `lockWaitMs` (on a connection whose busy_timeout is 0), a batch that finds the write lock
 * taken (another process's commit, the checkpoint thread's RESTART) is tried again on a timer
 * rather than in SQLite's busy handler, which sleeps on the calling thread: the event loop.
 */
import type Database from 'better-sqlite3';

/** Queues jobs for the next group commit. */
export interface GroupCommit {
  /** Runs `run` (with the batch's clock) in the next commit; `items` counts towards `flushAt`. */
  enqueue<T>(run: (now: number) => T, items?: number): Promise<T>;
  /** Commits what is queued now, waiting for the lock on this thread if need be (before a close). */
  flush(): void;
}

export interface GroupCommitOptions {
  /** Queued items past which a batch is committed at once. */
  readonly flushAt: number;
  /** The error each job of a batch that could not be committed is rejected with. */
  readonly failure: (error: unknown) => Error;
  /** How long a batch waits for a write lock held elsewhere, retried on timers (default 0: fails at once). */
  readonly lockWaitMs?: number;
  /**
   * Called whenever a batch whose jobs ran is rolled back (before it is retried or rejected): what
   * they kept in memory about the rows they wrote is then wrong. Not called when the batch could not
   * take the write lock (no job ran).
   */
  readonly rolledBack?: () => void;
}

interface Job {
  readonly run: (now: number) => unknown;
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
}

/** Delay between tries for a taken lock: the shortest a Node timer waits. */
const RETRY_MS = 1;

/**
 * Group commit on `db`. A batch whose commit fails (a lock held past the wait, a full disk)
 * leaves every one of its jobs unwritten, and each is rejected with `failure(error)`.
 */
export function groupCommit(db: Database.Database, { flushAt, failure, lockWaitMs = 0, rolledBack }: GroupCommitOptions): GroupCommit {
  // Whether the batch being committed got past BEGIN: a batch refused the lock ran no job.
  let ran = false;
  const runJobs = db.transaction((jobs: readonly Job[]) => {
    ran = true;
    const now = Date.now();
    return jobs.map((job) => job.run(now));
  });
  let queue: Job[] = [];
  let queuedItems = 0;
  let scheduled: NodeJS.Immediate | undefined;
  // While the lock is taken: the retry timer, and when the first try found it taken.
  let retry: NodeJS.Timeout | undefined;
  let waitingSince: number | undefined;

  const commit = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    if (retry !== undefined) clearTimeout(retry);
    scheduled = undefined;
    retry = undefined;
    const jobs = queue;
    if (jobs.length === 0) return;
    let results: unknown[];
    ran = false;
    try {
      results = runJobs.immediate(jobs);
    } catch (error) {
      // The transaction was rolled back: nothing of the batch was written, so it can run again.
      if (ran) rolledBack?.();
      waitingSince ??= Date.now();
      if (isBusy(error) && Date.now() - waitingSince < lockWaitMs) {
        retry = setTimeout(commit, RETRY_MS);
        return;
      }
      reset();
      const rejection = failure(error);
      for (const job of jobs) job.reject(rejection);
      return;
    }
    reset();
    for (const [index, job] of jobs.entries()) job.resolve(results[index] as never);
  };
  const reset = (): void => {
    queue = [];
    queuedItems = 0;
    waitingSince = undefined;
  };

  return {
    enqueue: <T>(run: (now: number) => T, items = 1): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        queue.push({ run, resolve: resolve as (value: never) => void, reject });
        queuedItems += items;
        // While waiting for the lock, the retry timer commits what joins the queue.
        if (retry !== undefined) return;
        if (queuedItems >= flushAt) commit();
        else scheduled ??= setImmediate(commit);
      }),
    flush() {
      if (queue.length === 0) return;
      if (lockWaitMs === 0) return commit();
      // The last commit: SQLite's busy handler waits, and a lock still taken then fails the batch.
      db.pragma(`busy_timeout = ${lockWaitMs}`);
      waitingSince = -Infinity;
      commit();
      db.pragma('busy_timeout = 0');
    },
  };
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
