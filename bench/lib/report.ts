import { floorRows, goalRows } from './goals.js';
import type { BenchOptions } from './options.js';
import type { MachineInfo } from './machine.js';
import type { Table, WorkloadOutcome } from '../workloads/workload.js';

function markdownTable(table: Table): string {
  const line = (cells: string[]): string => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(table.columns), line(table.columns.map(() => '---')), ...table.rows.map(line)].join('\n');
}

/** Renders the whole report as Markdown. */
export function renderReport(machine: MachineInfo, options: BenchOptions, outcomes: WorkloadOutcome[], skipped: { name: string; reason: string }[]): string {
  const pinning = machine.pinning ? `server on core ${machine.pinning.server}, load generator on core ${machine.pinning.load} (\`taskset\`)` : 'not pinned';
  const out: string[] = [
    '# Benchmarks',
    '',
    options.quick ? '> **Quick run**: tiny sizes for a smoke test. These figures say the harness works, nothing about performance.\n' : '',
    `Measured ${machine.date} on ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, commit \`${machine.commit}\`. Pinning: ${pinning}. \`ulimit -n\`: ${machine.fdLimit}.`,
    '',
    `Each figure is the median of ${options.runs} run(s); every run starts a fresh server process. Command: \`npm run bench${options.argv.length ? ` -- ${options.argv.join(' ')}` : ''}\`.`,
    '',
    'Clients are the light Engine.IO v4 / Socket.IO v5 sockets of `bench/client/` in child processes; HTTP load comes from autocannon (maximum rate) and an evenly paced keep-alive loop (half rate). A run in which any message is lost or duplicated, any request fails, or any socket drops counts as failed, is left out of the medians, and fails the harness.',
    '',
  ];
  if (skipped.length > 0) {
    out.push('Targets not run: ' + skipped.map((s) => `**${s.name}** (${s.reason})`).join('; ') + '.', '');
  }
  const goals = goalRows(outcomes);
  if (goals.length > 0) {
    const caveat = options.quick ? ' **Quick run: at these sizes the ratios mean nothing.**' : '';
    out.push('## Aims', '', `Medians from the tables below; goals are aims, not tests.${caveat}`, '', ...goals, '');
  }
  const floors = floorRows(outcomes);
  if (floors.length > 0) {
    out.push(
      '## Where the distance from raw ws goes',
      '',
      'Medians from the tables below. Stock Socket.IO at its leanest (d) against raw ws is what Socket.IO and Fastify cost; the gateway against (d) is what the gateway adds (or saves) on top.',
      '',
      ...floors,
      '',
    );
  }
  for (const outcome of outcomes) {
    out.push(`## ${outcome.title}`, '', outcome.method, '');
    for (const table of outcome.tables) out.push(markdownTable(table), '');
    for (const note of outcome.notes) out.push(`- ${note}`);
    if (outcome.notes.length > 0) out.push('');
    if (outcome.failures.length > 0) {
      out.push('**Failed runs:**', '', ...outcome.failures.map((f) => `- ${f}`), '');
    }
    out.push(`Reproduce: \`${outcome.reproduce}\``, '');
  }
  return out.filter((line, i, all) => !(line === '' && all[i - 1] === '')).join('\n');
}
