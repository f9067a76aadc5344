// A small client: connects to /v1/shared as the user a token names and prints every event.
// Usage: node examples/listen.mjs "$(npm run -s cli -- token --user 64user123)" [http://localhost:4000]
// It says why when it cannot connect: a refused token ends it (exit 1); an unreachable gateway is
// retried, as any Socket.IO client does, until the gateway is up (Ctrl-C to stop).
import { io } from 'socket.io-client';

const [token, url = 'http://localhost:4000'] = process.argv.slice(2);
if (!token) {
  console.error('usage: node examples/listen.mjs <token> [gateway URL, default http://localhost:4000]');
  console.error('no token given: mint one with  npm run -s cli -- token --user <id>  (after starting the gateway once with npm start)');
  process.exit(2);
}

const socket = io(`${url}/v1/shared`, { auth: { token } });
let unreachable = false;
socket.on('connect', () => {
  unreachable = false;
  console.log(`connected to ${url} as socket ${socket.id}; waiting for events (Ctrl-C to stop)`);
});
socket.on('connect_error', (error) => {
  if (error.data?.code) {
    // The gateway answered and refused the token: retrying the same token would not help.
    console.error(`refused by ${url}: ${error.message} (${error.data.code})`);
    process.exit(1);
  }
  if (unreachable) return;
  unreachable = true;
  console.error(`cannot reach a gateway at ${url} (${error.message}): is it running, on that port? Retrying; another URL goes as the second argument.`);
});
socket.on('disconnect', (reason) => console.log(`disconnected: ${reason}${socket.active ? '; reconnecting' : ''}`));
socket.onAny((event, payload) => {
  const text = JSON.stringify(payload);
  // Short payloads on one line; documents indented, to be read.
  console.log(event, text !== undefined && text.length > 100 ? JSON.stringify(payload, null, 2) : text);
});
