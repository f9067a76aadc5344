/**
 * Limits per client address, for requests that reach the gateway outside Fastify (Socket.IO
 * handshakes, the admin UI's sign-in): who the caller is, read as Fastify reads `request.ip`, and
 * how often it did something in the current window.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { createIpAllowlist } from './ip-allowlist.js';
import type { Config } from '../config.js';

/**
 * The caller's address of a raw request under `TRUST_PROXY`: the socket's peer, or the last address
 * of `X-Forwarded-For` that a trusted proxy did not add (every hop when `true`), as Fastify does.
 */
export function clientAddressOf(trustProxy: Config['trustProxy']): (request: IncomingMessage) => string {
  const trusted = typeof trustProxy === 'string' ? createIpAllowlist(trustProxy.split(',')) : () => trustProxy;
  return (request) => {
    let address = request.socket.remoteAddress ?? '';
    if (trustProxy === false) return address;
    const header = request.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((hop) => hop.trim())
      .filter((hop) => hop !== '');
    for (let i = hops.length - 1; i >= 0 && trusted(address); i--) address = hops[i]!;
    return address;
  };
}

/**
 * What one caller controls: an IPv4 address, or the /64 network of an IPv6 address (one host
 * usually holds a whole /64, so counting single IPv6 addresses would limit nothing).
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.toLowerCase().split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Counts events per address in fixed windows. The whole table is dropped when a window ends, so
 * memory holds at most one window's callers however many addresses an attacker cycles through.
 */
export class AddressWindow {
  private counts = new Map<string, number>();
  private endsAt = 0;

  constructor(private readonly windowMs: number) {}

  /** Counts one more event for `address`; returns how many it has in the current window. */
  hit(address: string): number {
    const now = Date.now();
    if (now >= this.endsAt) {
      this.counts.clear();
      this.endsAt = now + this.windowMs;
    }
    const key = addressKey(address);
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    return count;
  }

  /** Whole seconds until the current window ends (at least 1). */
  secondsLeft(): number {
    return Math.max(1, Math.ceil((this.endsAt - Date.now()) / 1000));
  }
}
