/** A webhook receiver for tests: a real HTTP server that records every delivery and answers as told. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';

/** One delivery as it arrived. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly body: { id: string; type: string; time: string; data: Record<string, string> };
  /** The status it was answered with. */
  readonly status: number;
}

export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** The deliveries answered 2xx (what a backend acted on). */
  accepted(): Received[];
  /** Decides each answer's status (default 200). */
  answer(decide: (body: Received['body'], attempt: number) => number): void;
  close(): Promise<void>;
}

/**
 * README's verification, as a backend copies it from there (so README stays true): the code block
 * that defines `verifyWebhook`, run as it is written, its import supplied.
 */
function readmeVerification(): (secret: string, headers: IncomingHttpHeaders, rawBody: string) => boolean {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /```js\nimport \{ createHmac, timingSafeEqual \} from 'node:crypto';\n([\s\S]*?function verifyWebhook[\s\S]*?)```/.exec(readme);
  if (block === null) throw new Error("README's webhook verification code block is missing");
  const lines = block[1]!.trim().split('\n');
  if (lines.length > 7) throw new Error(`README's webhook verification is ${lines.length - 2} lines long, not five`);
  return new Function('createHmac', 'timingSafeEqual', `${block[1]}\nreturn verifyWebhook;`)(createHmac, timingSafeEqual);
}

/** README's five lines that verify a webhook's signature. */
export const verifyWebhook = readmeVerification();

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const attempts = new Map<string, number>();
  let decide: (body: Received['body'], attempt: number) => number = () => 200;
  const server = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      const body = JSON.parse(raw) as Received['body'];
      const attempt = (attempts.get(body.id) ?? 0) + 1;
      attempts.set(body.id, attempt);
      const status = decide(body, attempt);
      received.push({ headers: request.headers, raw, body, status });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    accepted: () => received.filter((delivery) => delivery.status >= 200 && delivery.status < 300),
    answer(fn) {
      decide = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The accepted deliveries of one type for one user or socket. */
export function deliveries(receiver: Receiver, type: string, id: string): Received[] {
  return receiver.accepted().filter(({ body }) => body.type === type && (body.data.userId === id || body.data.socketId === id));
}
