import { type IncomingHttpHeaders, request as httpRequest } from 'node:http';

/**
 * The status of a plain HTTP request, with the body read to the end: an unread body keeps the
 * connection busy, and closing the gateway would then wait for it.
 */
export async function statusOf(url: string | URL, init?: RequestInit): Promise<number> {
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return response.status;
}

/** An answer read to the end. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A request on a connection of its own whose head names the Engine.IO session `sid` (in a header of
 * no meaning): a WORKERS primary hands it to the worker that holds the session. A kept-alive
 * connection would stay with the worker it was first handed to, whichever session a later request names.
 */
export function onWorkerOf(
  url: string,
  sid: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(path, url);
    const call = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: init.method ?? 'GET',
        agent: false,
        timeout: init.timeoutMs ?? 20_000,
        headers: { ...init.headers, 'x-session': `sid=${sid}` },
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
      },
    );
    call.on('timeout', () => call.destroy(new Error(`no answer to ${path} in time`)));
    call.on('error', reject);
    call.end(init.body);
  });
}
