/**
 * The one place that knows how @socket.io/cluster-adapter talks over Node's IPC channel, which it
 * does not document: the WORKERS primary reads its messages to learn which adapters live in which
 * worker, and speaks its "adapter closed" message when a worker dies, so the survivors stop
 * waiting for that worker at once instead of after its heartbeats time out.
 * test/internals.test.ts fails if an upgrade changes these shapes.
 */
import { MessageType } from 'socket.io-adapter';

/** Marks the cluster adapter's messages on the IPC channel (`MESSAGE_SOURCE` in its source). */
const ADAPTER_SOURCE = '_sio_adapter';

/**
 * How long the adapter waits for other workers' answers to a server-side emit before it calls back
 * with those it got. It is fixed (`DEFAULT_TIMEOUT` in socket.io-adapter), whatever the options say.
 */
export const ADAPTER_ANSWER_TIMEOUT_MS = 5000;

/** Which adapter sent an IPC message: its id and its namespace; undefined for any other message. */
export function adapterOf(message: unknown): { readonly uid: string; readonly nsp: string } | undefined {
  const { source, uid, nsp } = (message ?? {}) as { source?: unknown; uid?: unknown; nsp?: unknown };
  if (source !== ADAPTER_SOURCE || typeof uid !== 'string' || uid === '' || typeof nsp !== 'string') return undefined;
  return { uid, nsp };
}

/** The message an adapter sends when it closes: its peers forget it at once. */
export function adapterClosed(uid: string, nsp: string): object {
  return { source: ADAPTER_SOURCE, type: MessageType.ADAPTER_CLOSE, uid, nsp };
}
