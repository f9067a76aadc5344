// A small client: connects to /v1/shared as the user a token names and prints every event.
// Usage: node examples/listen.mjs "$(npm run -s cli -- token --user 64user123)" [http://localhost:4000]
import { io } from 'socket.io-client';

const [token, url = 'http://localhost:4000'] = process.argv.slice(2);
if (!token) {
  console.error('usage: node examples/listen.mjs <token> [url]');
  process.exit(2);
}

const socket = io(`${url}/v1/shared`, { auth: { token } });
socket.on('connect', () => console.log(`connected as socket ${socket.id}; waiting for events (Ctrl-C to stop)`));
socket.on('connect_error', (error) => {
  console.error(`refused: ${error.message} (${error.data?.code ?? 'no code'})`);
  process.exit(1);
});
socket.on('disconnect', (reason) => console.log(`disconnected: ${reason}`));
socket.onAny((event, payload) => console.log(event, JSON.stringify(payload)));
