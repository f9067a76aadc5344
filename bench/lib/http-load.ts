import autocannon from 'autocannon';
import { percentile } from './stats.js';

export interface HttpLoadOptions {
  baseUrl: string;
  headers: Record<string, string>;
  connections: number;
  /** Exact number of requests: with a count rather than a duration, every request sent is also answered, so deliveries can be matched to 2xx responses. */
  amount: number;
  /** POST (default) or GET; a GET request's body is ignored. */
  method?: 'GET' | 'POST';
  /** Requests/s over all connections; unlimited when undefined. */
  overallRate?: number;
  /** Request number i → path, JSON body and headers of its own; called once per request, so bodies may carry a send timestamp. */
  request(i: number): { path: string; body: string; headers?: Record<string, string> };
  /** Hard stop, in case the server stalls. */
  maxMs: number;
}

export interface HttpLoadResult {
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  elapsedMs: number;
  rps: number;
  /** Response latency in ms, from per-response timings rather than autocannon's whole-millisecond histogram. */
  p50Ms: number;
  p99Ms: number;
  /** True when maxMs cut the run short. */
  stopped: boolean;
  /**
   * Paced load only: requests that found every keep-alive connection busy and waited a millisecond or
   * more for one, and the longest such wait. A server that stalls holds every connection's request,
   * and the requests due meanwhile queue in the loader: their latency counts that wait.
   */
  waitedForConnection?: number;
  connectionWaitMaxMs?: number;
}

/** The autocannon client internals honourConnectionClose() relies on (autocannon 9, lib/httpClient.js). */
interface ClientInternals {
  _doRequest(): void;
  _destroyConnection(): void;
  _connect(): void;
}

/**
 * Makes one autocannon client honour `Connection: close`, as HTTP/1.1 clients must: autocannon writes
 * its next request on the connection the server is closing, and a server may run that request while
 * its answer is lost with the connection (a WORKERS gateway closed every connection after one
 * response until REST calls kept theirs), so the count of 2xx answers would fall short of what ran. Here,
 * after such a response, the client opens a new connection for its next request instead. Servers
 * that keep connections alive never take this path.
 */
function honourConnectionClose(client: autocannon.Client): void {
  const internals = client as unknown as ClientInternals;
  let closing = false;
  // autocannon emits the parser's head (status, headers, shouldKeepAlive), not what @types/autocannon says.
  (client as NodeJS.EventEmitter).on('headers', (head: { shouldKeepAlive?: boolean }) => {
    closing = head.shouldKeepAlive === false;
  });
  const doRequest = internals._doRequest.bind(client);
  // Called once the previous response is complete (and on each new connection): the place to reconnect.
  internals._doRequest = () => {
    if (!closing) return doRequest();
    closing = false;
    // _destroyConnection drops the 'end' listener that would connect a second time; _connect sends the next request.
    internals._destroyConnection();
    internals._connect();
  };
}

/** Drives POSTs with autocannon over keep-alive connections (new ones where the server closes them) and times every response. */
export function runHttpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const samples: number[] = [];
  let next = 0;
  let stopped = false;
  const started = performance.now();
  let lastResponseAt = started;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.baseUrl,
        connections: options.connections,
        amount: options.amount,
        ...(options.overallRate === undefined ? {} : { overallRate: Math.max(1, Math.round(options.overallRate)) }),
        timeout: 10,
        // Completion is only noticed on a sampling tick; the default of 1 s would idle between phases.
        sampleInt: 100,
        setupClient: honourConnectionClose,
        method: options.method ?? 'POST',
        headers: options.method === 'GET' ? { ...options.headers } : { 'content-type': 'application/json', ...options.headers },
        requests: [
          {
            setupRequest: (request) => {
              const { path, body, headers } = options.request(next++);
              request.path = path;
              if (headers) request.headers = { ...request.headers, ...headers };
              if (options.method !== 'GET') request.body = body;
              return request;
            },
          },
        ],
      },
      (error, result) => {
        clearTimeout(guard);
        if (error) return reject(error);
        // autocannon only notices completion on its next sampling tick, up to a second late.
        const elapsedMs = lastResponseAt - started;
        const ok = result['2xx'];
        resolve({
          sent: next,
          ok,
          non2xx: result.non2xx,
          errors: result.errors,
          elapsedMs,
          rps: elapsedMs > 0 ? (ok / elapsedMs) * 1000 : 0,
          p50Ms: percentile(samples, 50),
          p99Ms: percentile(samples, 99),
          stopped,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      samples.push(responseTime);
      lastResponseAt = performance.now();
    });
    const guard = setTimeout(() => {
      stopped = true;
      instance.stop();
    }, options.maxMs);
  });
}
