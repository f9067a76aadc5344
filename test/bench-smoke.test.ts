/**
 * Keeps the benchmark harness working: `npm run bench -- --quick` runs every workload with tiny
 * sizes against the gateway and raw-ws (the baseline the ratios are taken against). Nothing is timed
 * here (CI machines vary); what is checked is that every run completes, that every delivery expected
 * was counted at a client (the harness fails a run on any lost or duplicated message, non-2xx answer
 * or dropped socket), and that the report holds a table for each workload. The light client's
 * self-check and the fastify-hello and seed-style baselines are left to a full `--quick` run by hand:
 * they would add about 40 s of CPU to the suite, mostly for starting their processes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postgresAvailable } from './support/postgres.js';
import { pingRedis } from './support/redis.js';
import { requireService } from './support/services.js';

const postgresUp = await postgresAvailable();

/** Heap per idle gateway connection (KiB, the quick run's idle table) past which the suite fails. */
const HEAP_BUDGET_KIB = 16;
const redisUp = await requireService('Redis (127.0.0.1:6379)', () => pingRedis());

/**
 * Runs the harness; resolves with its exit code and the tail of its output. `signal` (the test's, which
 * aborts at its timeout) stops it; its servers and clients exit with it.
 */
function runBench(args: string[], signal: AbortSignal): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/harness.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-6000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });
}

/** The Markdown table rows of one `## title` section. */
function sectionRows(report: string, title: string): string[][] {
  const start = report.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `the report has a "${title}" section`);
  const end = report.indexOf('\n## ', start + 1);
  const lines = report.slice(start, end < 0 ? undefined : end).split('\n');
  return lines
    .filter((line) => line.startsWith('| ') && !line.startsWith('| ---'))
    .slice(1)
    .map((line) => line.slice(2, -2).split(' | '));
}

describe('benchmark harness (quick smoke run)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  // It starts 30 processes: under a minute on a quiet 2-core machine, several times that on a busy one.
  it('runs every workload to the end with every delivery counted', { timeout: 480_000 }, async (t) => {
    const out = join(dir, 'BENCHMARKS.quick.md');
    // --no-pin: nothing is timed, so every process may use every core (pinned, all servers share one,
    // and two runs of the suite side by side would share the same one).
    const { code, output } = await runBench(['--quick', '--no-pin', '--skip-self-check', '--targets', 'raw-ws,gateway', '--out', out], t.signal);
    assert.equal(code, 0, `npm run bench -- --quick failed:\n${output}`);
    const report = readFileSync(out, 'utf8');
    assert.doesNotMatch(report, /Failed runs/);

    const targets = ['raw-ws', 'gateway'];
    assert.deepEqual(
      sectionRows(report, 'Unicast').map((row) => row[0]),
      targets,
    );
    assert.deepEqual(
      sectionRows(report, 'Fan-out').map((row) => row[0]),
      targets,
    );
    const idle = sectionRows(report, 'Idle density');
    assert.deepEqual(
      idle.map((row) => row[0]),
      targets,
    );
    // A memory budget, not a timing: what the gateway's heap keeps per idle connection depends on the
    // code, not on the machine (14.1 to 14.5 KiB at these 300 sockets, 11.4 at 2,000, on 2026-12-01).
    // A change that keeps the handshake request, or a closure per socket, again goes over it.
    const heapPerConnection = Number(idle.find((row) => row[0] === 'gateway')![4]);
    assert.ok(
      heapPerConnection > 0 && heapPerConnection <= HEAP_BUDGET_KIB,
      `the gateway keeps ${heapPerConnection} KiB of heap per idle connection (budget ${HEAP_BUDGET_KIB})`,
    );
    const conversation = sectionRows(report, 'Conversation fan-out');
    assert.equal(conversation.length, postgresUp ? 2 : 1, 'one row per store (SQLite, and PostgreSQL when it runs)');
    const cluster = sectionRows(report, 'Cluster');
    assert.equal(cluster.length, redisUp ? 3 : 1, 'single node, and the two-node layouts when Redis runs');
    const routing = sectionRows(report, 'Targeted routing');
    assert.equal(routing.length, redisUp ? 6 : 0, '2, 4 and 8 nodes, to users on node B and to offline users, when Redis runs');
    assert.deepEqual(
      sectionRows(report, 'Batch and idempotency keys').map((row) => row[0]),
      ['gateway: 100 single calls', 'gateway: 1 batch of 100', 'gateway: single calls with Idempotency-Key'],
    );

    // Every "delivered / expected" cell: the same number on both sides, and not zero.
    const cells = [...report.matchAll(/\| ([\d,]+) \/ ([\d,]+) \| (\d+)\/(\d+) \|/g)];
    // Routing: the rows to users on node B count deliveries; offline rows have none by design.
    assert.ok(cells.length >= 2 + 2 + 2 + conversation.length + cluster.length + routing.length / 2 + 3, `delivery cells found: ${cells.length}`);
    for (const [cell, delivered, expected, ok, runs] of cells) {
      assert.equal(delivered, expected, `lost or extra deliveries: ${cell}`);
      assert.notEqual(expected, '0', `nothing was delivered: ${cell}`);
      assert.equal(ok, runs, `a run failed: ${cell}`);
    }
  });
});
