/** Schema of the live figures operators and the CLI read. */
import { Type, type Static } from 'typebox';
import { ErrorReply } from './common.js';

const Figures = Type.Object({
  success: Type.Literal(true),
  message: Type.Literal('SUCCESS'),
  nodes: Type.Integer({ minimum: 1, description: 'Gateway nodes these figures cover.' }),
  users: Type.Integer({ minimum: 0, description: 'Users with at least one socket in /v1/shared (in a cluster, a user connected to two nodes counts twice).' }),
  sockets: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Connected sockets per namespace.' }),
  partial: Type.Optional(Type.Literal(true, { description: 'Some gateway node did not answer in time; its figures are missing.' })),
});
export type Figures = Static<typeof Figures>;

/** `GET /stats`: connected users and sockets. */
export const Stats = {
  summary: 'Connected users and sockets per namespace',
  response: { 200: Figures, 401: ErrorReply, 403: ErrorReply },
};
