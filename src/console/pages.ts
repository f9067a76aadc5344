/**
 * Serves the web console: its page and stylesheet (console/), its scripts (compiled from console/*.ts
 * by `npm run build` into dist/console-ui/), and the Socket.IO browser client from the
 * socket.io-client package. Nothing comes from a CDN; a strict CSP keeps it that way.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { fail } from '../errors.js';

/** The package root, from src/console/ (tsx) or dist/console/ (built). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCES = join(ROOT, 'console');
const SCRIPTS = join(ROOT, 'dist', 'console-ui');
const SOCKET_IO_CLIENT = join(dirname(createRequire(import.meta.url).resolve('socket.io-client/package.json')), 'dist', 'socket.io.esm.min.js');

const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // The console is small and changes with the gateway: always revalidate.
  'cache-control': 'no-cache',
};

interface Asset {
  readonly type: string;
  readonly body: string;
}

let scripts: Map<string, Asset> | undefined;

/** The compiled console scripts, read once per process; empty when the build has not run. */
function consoleScripts(): Map<string, Asset> {
  if (!scripts) {
    scripts = new Map();
    if (existsSync(SCRIPTS)) {
      for (const file of readdirSync(SCRIPTS)) {
        if (file.endsWith('.js')) scripts.set(file, { type: 'text/javascript; charset=utf-8', body: readFileSync(join(SCRIPTS, file), 'utf8') });
      }
    }
  }
  return scripts;
}

function send(reply: FastifyReply, asset: Asset): FastifyReply {
  return reply.headers(HEADERS).type(asset.type).send(asset.body);
}

/** Registers `/console` and its assets; `listen` offers the "listen as user" panel (outside production). */
export const consolePages: FastifyPluginAsync<{ listen: boolean }> = async (app, { listen }) => {
  const page: Asset = {
    type: 'text/html; charset=utf-8',
    body: readFileSync(join(SOURCES, 'index.html'), 'utf8').replace('data-listen="false"', `data-listen="${listen}"`),
  };
  const stylesheet: Asset = { type: 'text/css; charset=utf-8', body: readFileSync(join(SOURCES, 'console.css'), 'utf8') };
  const client: Asset = { type: 'text/javascript; charset=utf-8', body: readFileSync(SOCKET_IO_CLIENT, 'utf8') };
  const hidden = { schema: { hide: true } };

  app.get('/console', hidden, async (_request, reply) => send(reply, page));
  // Relative links in the page need the URL without a trailing slash.
  app.get('/console/', hidden, async (_request, reply) => reply.redirect('../console'));
  app.get('/console/console.css', hidden, async (_request, reply) => send(reply, stylesheet));
  app.get('/console/vendor/socket.io.esm.min.js', hidden, async (_request, reply) => send(reply, client));
  app.get<{ Params: { file: string } }>('/console/js/:file', hidden, async (request, reply) => {
    const available = consoleScripts();
    const script = available.get(request.params.file);
    if (script) return send(reply, script);
    if (available.size === 0) throw fail('NOT_FOUND', 'The console scripts are not built: run "npm run build"');
    throw fail('NOT_FOUND', `No console script ${request.params.file}`);
  });
};
