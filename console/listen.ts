/**
 * "Listen as user": mints a short-lived token (`POST /console/token`, refused in production), connects
 * to `/v1/shared` with the Socket.IO client this gateway serves, and lists every event that arrives.
 */
import type { Socket } from 'socket.io-client';
import { base, call } from './session.js';

type SocketIoClient = typeof import('socket.io-client');

let socket: Socket | undefined;
/** Bumped by every connect and disconnect: a connect that finds it changed after a wait is abandoned. */
let attempt = 0;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

function status(text: string): void {
  element('listen-status').textContent = text;
}

function connected(isConnected: boolean): void {
  element<HTMLButtonElement>('listen-connect').disabled = isConnected;
  element<HTMLButtonElement>('listen-disconnect').disabled = !isConnected;
}

function logEvent(event: string, args: unknown[]): void {
  const item = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  const name = document.createElement('strong');
  name.textContent = ` ${event}`;
  const payload = document.createElement('pre');
  payload.textContent = JSON.stringify(args.length === 1 ? args[0] : args, null, 2);
  item.append(time, name, payload);
  element('listen-log').prepend(item);
}

async function connect(userId: string): Promise<void> {
  disconnect();
  const current = attempt;
  status(`Getting a token for ${userId}…`);
  const answer = await call('POST', 'console/token', { userId });
  if (current !== attempt) return;
  if (answer.status !== 200) {
    status(`No token: ${(answer.body as { message?: string })?.message ?? answer.status}`);
    return;
  }
  const { token } = answer.body as { token: string };
  const { io } = (await import(new URL('vendor/socket.io.esm.min.js', new URL('console/', base)).href)) as SocketIoClient;
  if (current !== attempt) return;
  socket = io(new URL('v1/shared', base).href, { auth: { token }, path: `${base.pathname}socket.io`, reconnection: false });
  socket.on('connect', () => {
    status(`Connected as ${userId} (socket ${socket?.id}).`);
    connected(true);
  });
  socket.on('connect_error', (error) => {
    status(`Refused: ${error.message}`);
    connected(false);
  });
  socket.on('disconnect', (reason) => {
    status(`Disconnected (${reason}).`);
    connected(false);
  });
  socket.onAny((event: string, ...args: unknown[]) => logEvent(event, args));
}

/** Closes the listening socket, if any, and abandons a connect still under way. */
export function disconnect(): void {
  attempt++;
  socket?.disconnect();
  socket = undefined;
}

/** Shows the panel when the gateway offers it (outside production) and wires it. */
export function setupListenPanel(): boolean {
  if (document.documentElement.dataset.listen !== 'true') return false;
  element<HTMLFormElement>('listen-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const userId = element<HTMLInputElement>('listen-user').value.trim();
    connect(userId).catch((error: unknown) => status(`Cannot connect: ${(error as Error).message}`));
  });
  element('listen-disconnect').addEventListener('click', () => {
    disconnect();
    status('Not connected.');
  });
  return true;
}
