/**
 * Optional `ADMIN_UI=true`: instruments Socket.IO for the ecosystem's @socket.io/admin-ui (its
 * namespace `/admin`, behind basic credentials from config) and serves that UI's files, shipped in
 * the package, at `/admin-ui/`, so that nobody has to open a third-party site to use it.
 */
import { hostname } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import { instrument } from '@socket.io/admin-ui';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import type { Server } from 'socket.io';
import type { Config } from './config.js';

/** Where the admin UI's pages are served. */
export const ADMIN_UI_PATH = '/admin-ui/';

const BCRYPT_HASH = /^\$2[ab]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** A bcrypt hash of the configured password; a password given as a hash is used as it is. */
function passwordHash(password: string): string {
  return BCRYPT_HASH.test(password) ? password : bcrypt.hashSync(password, 10);
}

/** Instruments `io` and serves the UI; does nothing unless `ADMIN_UI=true`. */
export async function registerAdminUi(app: FastifyInstance, io: Server, config: Pick<Config, 'adminUi' | 'adminUiUsername' | 'adminUiPassword' | 'nodeEnv'>): Promise<void> {
  if (!config.adminUi) return;
  instrument(io, {
    auth: { type: 'basic', username: config.adminUiUsername, password: passwordHash(config.adminUiPassword) },
    // Production mode sends aggregates only, not every socket and room, to keep the overhead low.
    mode: config.nodeEnv === 'production' ? 'production' : 'development',
    // Distinct per process, so that several nodes on one host show up separately.
    serverId: `${hostname()}#${process.pid}`,
  });
  const uiRoot = join(dirname(createRequire(import.meta.url).resolve('@socket.io/admin-ui/package.json')), 'ui', 'dist');
  await app.register(fastifyStatic, { root: uiRoot, prefix: ADMIN_UI_PATH, decorateReply: false, schemaHide: true });
  app.get(ADMIN_UI_PATH.slice(0, -1), { schema: { hide: true } }, (_request, reply) => reply.redirect(ADMIN_UI_PATH));
}
