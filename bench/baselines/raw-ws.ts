/**
 * Baseline (a): the practical limit. A bare `ws` server that does the least
 * any gateway must do: hold connections and, when told over HTTP, write one
 * pre-built WebSocket frame to each target socket.
 *
 * Framing: it speaks just enough Engine.IO v4 / Socket.IO v5 for the bench's
 * light client (and socket.io-client) to treat it as a socket.io server, so
 * deliveries are counted by the same code for every target:
 *   on upgrade at /socket.io/   sends `0{"sid",...}` (open)
 *   client `40<nsp>,<auth>`    answers `40<nsp>,{"sid"}`; the user id is
 *                              auth.userId, else auth.token taken verbatim
 *   every PING_INTERVAL_MS     one shared timer sends `2` to every socket
 *   events                     `42<nsp>,["<event>",<body as received>]`
 * The HTTP body is spliced into the frame unparsed: the limit should not pay
 * for JSON parsing. The frame is built once per request and handed to each
 * socket's sender the way socket.io-adapter does for broadcasts
 * (`wsPreEncodedFrame`), so no per-socket framing or copying happens.
 *
 * Control routes (127.0.0.1 only):
 *   POST /broadcast/:event        body = data; to every connected socket
 *   POST /emit/:userId/:event     body = data; to that user's sockets
 *   POST /emit/:event             body {userIds, data}; to those users' sockets
 *
 * Env: PORT (default 4000), NAMESPACE (default /v1/shared), PING_INTERVAL_MS.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as wsModule from 'ws';
import WebSocket, { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 4000);
const namespace = process.env.NAMESPACE ?? '/v1/shared';
const pingInterval = Number(process.env.PING_INTERVAL_MS ?? 25_000);
const prefix = namespace === '/' ? '' : `${namespace},`;
const MAX_BODY = 10 * 1024 * 1024;

type Frame = (Buffer | string)[];
interface SenderLike {
  sendFrame(frame: Frame, cb?: () => void): void;
}

const everyone = new Set<WebSocket>();
const byUser = new Map<string, Set<WebSocket>>();

/** Frames a text message once; the result may be written to any number of sockets. */
function frameOf(text: string): Frame {
  // Sender is exported by ws but absent from @types/ws.
  const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Frame } };
  return Sender.frame(Buffer.from(text), { readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true });
}

function sendFrame(ws: WebSocket, frame: Frame, text: string): void {
  const sender = (ws as unknown as { _sender?: SenderLike })._sender;
  // The private sender is what engine.io uses too; fall back if ws ever drops it.
  if (sender && typeof sender.sendFrame === 'function') sender.sendFrame(frame);
  else ws.send(text);
}

function deliver(targets: Iterable<WebSocket>, event: string, body: string): number {
  const text = `42${prefix}${JSON.stringify([event]).slice(0, -1)},${body}]`;
  const frame = frameOf(text);
  let sent = 0;
  for (const ws of targets) {
    if (ws.readyState !== WebSocket.OPEN) continue;
    sendFrame(ws, frame, text);
    sent++;
  }
  return sent;
}

function socketsOf(userIds: Iterable<string>): WebSocket[] {
  const out: WebSocket[] = [];
  for (const id of userIds) for (const ws of byUser.get(id) ?? []) out.push(ws);
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) reject(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const parts = (req.url ?? '/').split('?')[0]!.split('/').slice(1).map(decodeURIComponent);
  if (req.method !== 'POST') return reply(res, 404, { success: false, errno: 404, message: 'not found' });
  const body = (await readBody(req)) || 'null';
  let sent: number;
  if (parts.length === 2 && parts[0] === 'broadcast') {
    sent = deliver(everyone, parts[1]!, body);
  } else if (parts.length === 3 && parts[0] === 'emit') {
    sent = deliver(byUser.get(parts[1]!) ?? [], parts[2]!, body);
  } else if (parts.length === 2 && parts[0] === 'emit') {
    const { userIds, data } = JSON.parse(body) as { userIds?: string | string[]; data?: unknown };
    const ids = Array.isArray(userIds) ? userIds : userIds === undefined ? [] : [userIds];
    sent = deliver(socketsOf(ids), parts[1]!, JSON.stringify(data ?? null));
  } else {
    return reply(res, 404, { success: false, errno: 404, message: 'not found' });
  }
  reply(res, 200, { success: true, message: 'SUCCESS', sent });
}

const server = createServer((req, res) => {
  route(req, res).catch((error: unknown) => reply(res, 400, { success: false, errno: 400, message: String(error) }));
});

const wss = new WebSocketServer({ server, path: '/socket.io/', perMessageDeflate: false, clientTracking: false });

wss.on('connection', (ws) => {
  const sid = randomBytes(15).toString('base64url');
  ws.send(`0${JSON.stringify({ sid, upgrades: [], pingInterval, pingTimeout: 20_000, maxPayload: 1_000_000 })}`);
  let userId: string | undefined;
  ws.on('message', (data, isBinary) => {
    if (isBinary || userId !== undefined) return;
    const text = data.toString();
    if (!text.startsWith(`40${prefix}`)) return;
    const auth = JSON.parse(text.slice(2 + prefix.length) || '{}') as { userId?: unknown; token?: unknown };
    const id = auth.userId ?? auth.token;
    if (typeof id !== 'string' || id === '') {
      ws.send(`44${prefix}{"message":"unauthorized"}`);
      return;
    }
    userId = id;
    everyone.add(ws);
    const set = byUser.get(id) ?? new Set<WebSocket>();
    set.add(ws);
    byUser.set(id, set);
    ws.send(`40${prefix}${JSON.stringify({ sid })}`);
  });
  ws.on('close', () => {
    everyone.delete(ws);
    if (userId === undefined) return;
    const set = byUser.get(userId);
    set?.delete(ws);
    if (set?.size === 0) byUser.delete(userId);
  });
  ws.on('error', () => ws.terminate());
});

// One timer for all sockets: a per-socket timer would be exactly the overhead this baseline leaves out.
const ping = frameOf('2');
setInterval(() => {
  for (const ws of everyone) sendFrame(ws, ping, '2');
}, pingInterval).unref();

server.listen(port, '127.0.0.1', () => {
  console.log(`raw-ws baseline listening on 127.0.0.1:${port}`);
});

process.on('SIGTERM', () => process.exit(0));
