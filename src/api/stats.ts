/** Schema of the live figures operators and the CLI read. */
import { Type, type Static } from 'typebox';
import { ErrorReply } from './common.js';

const Figures = Type.Object({
  success: Type.Literal(true),
  message: Type.Literal('SUCCESS'),
  nodes: Type.Integer({ minimum: 1, description: 'Gateway nodes these figures cover.' }),
  users: Type.Integer({ minimum: 0, description: 'Distinct users with at least one socket in /v1/shared.' }),
  sockets: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Connected sockets per namespace.' }),
});
export type Figures = Static<typeof Figures>;

/** `GET /stats`: connected users and sockets. */
export const Stats = {
  summary: 'Connected users and sockets per namespace',
  response: { 200: Figures, 401: ErrorReply, 403: ErrorReply },
};
