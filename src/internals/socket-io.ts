/**
 * The one place that reads Socket.IO's private state. Socket.IO has no public way to list a
 * server's namespaces, those created on the fly by a dynamic namespace included; its `_nsps` map
 * is that list. test/internals.test.ts fails if an upgrade changes it.
 */
import type { Server } from 'socket.io';

/** The namespace type of a typed server. */
type NamespaceOf<S> = S extends { _nsps: Map<string, infer N> } ? N : never;

/** Every namespace `io` has created so far (the main one, static and dynamic ones). */
export function namespacesOf<S extends Server<any, any, any, any>>(io: S): Iterable<NamespaceOf<S>> {
  const namespaces: unknown = io._nsps;
  // Loud rather than an empty list: a gateway that sees no namespace would stop counting and closing sockets.
  if (!(namespaces instanceof Map)) throw new Error('socket.io changed: Server._nsps is no longer a Map of namespaces (see src/internals/socket-io.ts)');
  return (namespaces as Map<string, NamespaceOf<S>>).values();
}
