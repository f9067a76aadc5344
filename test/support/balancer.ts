/** A TCP balancer for tests and the fault bench: clients keep one address while the nodes behind it die. */
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';

/** A balancer listening on loopback; `close` stops it and cuts what it carries. */
export interface Balancer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Sends each new connection to the port `pick` names (undefined refuses it), and pipes it both ways
 * until either side closes. A node that dies closes its connections; the clients' reconnects are new
 * connections, which `pick` sends elsewhere.
 */
export function startBalancer(pick: () => number | undefined): Promise<Balancer> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const port = pick();
    if (port === undefined) return void client.destroy();
    const upstream = tcpConnect(port, '127.0.0.1');
    for (const socket of [client, upstream]) open.add(socket);
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      for (const socket of [client, upstream]) {
        socket.destroy();
        open.delete(socket);
      }
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as { port: number }).port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of open) socket.destroy();
            server.close(() => done());
          }),
      }),
    ),
  );
}
