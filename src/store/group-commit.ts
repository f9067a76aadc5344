/**
 * Group commit for the gateway's SQLite files: the writes asked for in one turn of the event loop
 * run in one BEGIN IMMEDIATE transaction at setImmediate (or at once past `flushAt` queued items),
 * and their promises settle after the commit. A commit's cost is the pages it writes and its
 * syscalls, not its statements: a hundred emits arriving together pay for one commit, not a hundred.
 * BEGIN IMMEDIATE takes the write lock first, so WORKERS processes sharing the file serialize their
 * batches, and what a job reads inside its batch no other process can change before it commits.
 */
import type Database from 'better-sqlite3';

/** Queues jobs for the next group commit. */
export interface GroupCommit {
  /** Runs `run` (with the batch's clock) in the next commit; `items` counts towards `flushAt`. */
  enqueue<T>(run: (now: number) => T, items?: number): Promise<T>;
  /** Commits what is queued now (before a close). */
  flush(): void;
}

interface Job {
  readonly run: (now: number) => unknown;
  readonly resolve: (value: never) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Group commit on `db`. A batch whose commit fails (a lock held past busy_timeout, a full disk)
 * leaves every one of its jobs unwritten, and each is rejected with `failure(error)`.
 */
export function groupCommit(db: Database.Database, { flushAt, failure }: { flushAt: number; failure: (error: unknown) => Error }): GroupCommit {
  const runJobs = db.transaction((jobs: readonly Job[]) => {
    const now = Date.now();
    return jobs.map((job) => job.run(now));
  });
  let queue: Job[] = [];
  let queuedItems = 0;
  let scheduled: NodeJS.Immediate | undefined;

  const flush = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    const jobs = queue;
    queue = [];
    queuedItems = 0;
    if (jobs.length === 0) return;
    let results: unknown[];
    try {
      results = runJobs.immediate(jobs);
    } catch (error) {
      const rejection = failure(error);
      for (const job of jobs) job.reject(rejection);
      return;
    }
    for (const [index, job] of jobs.entries()) job.resolve(results[index] as never);
  };

  return {
    enqueue: <T>(run: (now: number) => T, items = 1): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        queue.push({ run, resolve: resolve as (value: never) => void, reject });
        queuedItems += items;
        if (queuedItems >= flushAt) flush();
        else scheduled ??= setImmediate(flush);
      }),
    flush,
  };
}
