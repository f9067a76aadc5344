import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { socketLifecycle } from '../src/socket-lifecycle.js';
import type { GatewayServer } from '../src/socket-server.js';
import { eventually } from './support/gateway.js';

describe('socket lifecycle', () => {
  it('tells every subscriber about every socket of every namespace once, namespaces created later included', async () => {
    const server = createServer();
    const io: GatewayServer = new Server(server);
    const seen: string[] = [];
    const first = socketLifecycle(io);
    first.onConnect((socket) => seen.push(`first connect ${socket.nsp.name}`));
    first.onDisconnect((socket, reason) => seen.push(`first disconnect ${socket.nsp.name} ${reason}`));
    // A second module asking gets the same lifecycle: sockets are watched once.
    const second = socketLifecycle(io);
    assert.equal(second, first);
    second.onConnect((socket) => seen.push(`second connect ${socket.nsp.name}`));
    io.of('/later');
    io.of(/^\/dynamic-\d+$/);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const open = (nsp: string): Promise<Socket> => {
      const socket = connect(url + nsp, { forceNew: true, transports: ['websocket'] });
      return new Promise((resolve, reject) => socket.once('connect', () => resolve(socket)).once('connect_error', reject));
    };
    try {
      for (const nsp of ['/later', '/dynamic-1']) {
        const socket = await open(nsp);
        socket.disconnect();
        await eventually(() => seen.length % 3 === 0 && seen.at(-1)!.startsWith('first disconnect'), 5000, `the disconnect from ${nsp}`);
      }
      assert.deepEqual(seen, [
        'first connect /later',
        'second connect /later',
        'first disconnect /later client namespace disconnect',
        'first connect /dynamic-1',
        'second connect /dynamic-1',
        'first disconnect /dynamic-1 client namespace disconnect',
      ]);
    } finally {
      await io.close();
    }
  });
});
