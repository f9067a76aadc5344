import { Agent, request } from 'node:http';
import { percentile } from './stats.js';
import type { HttpLoadResult } from './http-load.js';

export interface PacedLoadOptions {
  baseUrl: string;
  headers: Record<string, string>;
  /** Requests per second, spread evenly. */
  rate: number;
  amount: number;
  /** Keep-alive sockets; enough that requests rarely wait for a free one. */
  connections: number;
  request(i: number): { path: string; body: string };
  maxMs: number;
}

/**
 * Sends `amount` POSTs open-loop at an even `rate` over keep-alive sockets.
 * autocannon's rate limit releases each second's quota in a burst at the
 * start of the second, which measures queueing behind the burst rather than
 * latency at the nominal rate; this spaces requests 1/rate apart instead.
 */
export function runPacedLoad(options: PacedLoadOptions): Promise<HttpLoadResult> {
  const url = new URL(options.baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const samples: number[] = [];
  const started = performance.now();
  let sent = 0;
  let done = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  return new Promise((resolve) => {
    const finish = (stopped: boolean): void => {
      clearInterval(tick);
      clearTimeout(guard);
      agent.destroy();
      const elapsedMs = performance.now() - started;
      resolve({ sent, ok, non2xx, errors, elapsedMs, rps: (ok / elapsedMs) * 1000, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), stopped });
    };
    const settle = (): void => {
      if (++done === options.amount) finish(false);
    };
    const send = (i: number): void => {
      const { path, body } = options.request(i);
      const issued = performance.now();
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...options.headers },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            samples.push(performance.now() - issued);
            if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) ok++;
            else non2xx++;
            settle();
          });
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        settle();
      });
      req.end(body);
    };
    // A 1 ms tick sends whatever is due; at thousands of requests/s several go per tick.
    const tick = setInterval(() => {
      const due = Math.min(options.amount, Math.floor(((performance.now() - started) / 1000) * options.rate) + 1);
      while (sent < due) send(sent++);
    }, 1);
    const guard = setTimeout(() => finish(true), options.maxMs);
  });
}
