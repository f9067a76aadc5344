/**
 * Baseline (b): the cost of the HTTP layer alone. The route has the unicast
 * endpoint's shape and parses the JSON body like the gateway must, but
 * delivers nothing, so the gateway's unicast throughput can be read as a
 * fraction of what Fastify itself allows on this machine.
 *
 * Env: PORT (default 4000).
 */
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 4000);
const app = Fastify({ logger: false });

app.post('/emit/:userId/:event', async () => ({ success: true, message: 'SUCCESS' }));

await app.listen({ port, host: '127.0.0.1' });
console.log(`fastify-hello baseline listening on 127.0.0.1:${port}`);

process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
