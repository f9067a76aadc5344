/** Entry point: load config, build the gateway, listen, and shut down cleanly on SIGTERM/SIGINT. */
import cluster from 'node:cluster';
import { runCluster } from './cluster/workers.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { devSecretsPath } from './dev-secrets.js';
import { createGateway } from './gateway.js';
import { primaryServerTimeouts } from './http/connection-timeouts.js';
import { servePresencePrimary } from './presence/workers.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`general-socket: ${error.message}\n`);
    process.exit(1);
  }
  if (cluster.isWorker || config.workers !== 1) {
    const presence = (log: Parameters<typeof servePresencePrimary>[0]['log']) => servePresencePrimary({ graceMs: config.webhookOfflineGraceMs, log });
    return runCluster(config, (bus) => createGateway(config, bus ? { bus } : {}), primaryServerTimeouts(config), [presence]);
  }
  const gateway = await createGateway(config);
  const log = gateway.app.log;
  if (config.generatedSecrets.length > 0) {
    log.warn(
      { generated: config.generatedSecrets, file: devSecretsPath(config.dataDir) },
      `development mode: using generated ${config.generatedSecrets.join(', ')} from ${devSecretsPath(config.dataDir)}; mint a user token with "npm run cli -- token --user <id>"`,
    );
  }
  const address = await gateway.listen();
  log.info({ address: address.address, port: address.port, env: config.nodeEnv }, `general-socket listening on ${address.address}:${address.port}`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting anyway');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    gateway.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // A stray rejection is a bug to log, not a reason to drop every connected client.
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled promise rejection'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`general-socket: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
