/** `general-socket status`: is the gateway up and ready, and who is connected. */
import { GeneralSocketError, type ReadinessResult, type StatsResult } from '../client/index.js';
import { UsageError, parse, type Command } from './command.js';
import { CONNECTION_HELP, connect, connectionOptions, describeError, errorJson } from './connection.js';

type Part<T> = { ok: true; value: T } | { ok: false; error: GeneralSocketError };

async function attempt<T>(call: () => Promise<T>): Promise<Part<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    if (error instanceof GeneralSocketError) return { ok: false, error };
    throw error;
  }
}

export const status: Command = {
  summary: 'Show health, readiness and connected users and sockets',
  help: `Usage: general-socket status [options]

Reads GET /healthz (liveness), GET /readyz (every dependency answers) and GET /stats (connected
users and sockets per namespace; needs the API key, and is left out when there is none). Exits 0
when the gateway is up and ready and its counts could be read, 1 otherwise.

${CONNECTION_HELP}
Example:
  GENERAL_SOCKET_URL=http://gateway:4000 general-socket status --json
`,
  async run(args, { env, stdout }) {
    const { values, positionals } = parse({ args, options: connectionOptions, allowPositionals: true, strict: true });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const connection = connect(values, env, { keyOptional: true });
    const { client } = connection;

    const health = await attempt(() => client.health());
    // Nothing else can answer when the liveness probe cannot.
    const readiness: Part<ReadinessResult> | undefined = health.ok ? await attempt(() => client.readiness()) : undefined;
    const stats: Part<StatsResult> | undefined = health.ok && connection.hasKey ? await attempt(() => client.stats()) : undefined;
    const ok = health.ok && readiness?.ok === true && readiness.value.ready && (stats === undefined || stats.ok);

    if (connection.json) {
      const part = <T>(p: Part<T> | undefined) => (p === undefined ? null : p.ok ? p.value : errorJson(p.error));
      stdout.write(`${JSON.stringify({ ok, url: connection.url, health: part(health), readiness: part(readiness), stats: part(stats) })}\n`);
      return ok ? 0 : 1;
    }
    const lines = [['Gateway', connection.url]];
    if (!health.ok) {
      lines.push(['Health', `unreachable: ${describeError(health.error)}`]);
    } else {
      lines.push(['Health', health.value.status]);
      lines.push(['Ready', readiness === undefined ? '' : readiness.ok ? describeReadiness(readiness.value) : `unknown: ${describeError(readiness.error)}`]);
      if (stats === undefined) {
        lines.push(['Counts', `not shown: GET /stats needs an API key (${connection.missingKeyHint})`]);
      } else if (!stats.ok) {
        lines.push(['Counts', `unavailable: ${describeError(stats.error)}`]);
      } else {
        const { users, sockets, nodes } = stats.value;
        lines.push(['Users', `${users} connected`]);
        lines.push([
          'Sockets',
          Object.entries(sockets)
            .map(([namespace, count]) => `${namespace} ${count}`)
            .join(', '),
        ]);
        lines.push(['Nodes', String(nodes)]);
        if (stats.value.online !== undefined) lines.push(['Online', `${stats.value.online} users cluster-wide (directory: ${stats.value.presence})`]);
      }
    }
    const text = lines.map(([label, value]) => `${(label ?? '').padEnd(9)}${value}`).join('\n');
    stdout.write(`${text}\n`);
    return ok ? 0 : 1;
  },
};

function describeReadiness(readiness: ReadinessResult): string {
  const checks = Object.entries(readiness.checks).map(([name, check]) => `${name} ${check.ok ? 'ok' : `failing${check.detail ? `: ${check.detail}` : ''}`}`);
  return `${readiness.ready ? 'yes' : 'no'}${checks.length > 0 ? ` (${checks.join(', ')})` : ''}`;
}
