/**
 * The one place that relies on how Node hands a connection to another process (lib/internal/child_process.js).
 * `send(message, socket)` takes the socket's handle and makes its `onread` a no-op, but does not stop
 * it reading, so bytes that arrive before the handle is gone are read and dropped. And the sender
 * keeps each handle sent (`_pendingMessage`), and those waiting their turn (`_handleQueue`), until
 * the receiver acknowledges it: one that dies first never does, and those connections stay open,
 * unanswered. test/internals.test.ts fails if either changes.
 */
import type { ChildProcess } from 'node:child_process';

/** Stops reading `socket`, which is about to be sent to another process, so that nothing is lost on the way. */
export function stopReading(socket: unknown): void {
  (socket as { _handle?: { readStop(): number } | null } | undefined)?._handle?.readStop();
}

/** Closes the connections sent to `child` that it never took, once it has exited, so that their clients learn it. */
export function closeUndelivered(child: ChildProcess): void {
  const internals = child as unknown as {
    _pendingMessage?: { handle?: { close(): void } | null } | null;
    _handleQueue?: { handle?: { destroy?(): void } | null }[] | null;
  };
  internals._pendingMessage?.handle?.close();
  internals._pendingMessage = null;
  // Not converted yet: the sockets themselves.
  for (const queued of internals._handleQueue ?? []) queued.handle?.destroy?.();
  internals._handleQueue = null;
}
