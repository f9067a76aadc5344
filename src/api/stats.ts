/** Schema of the live figures operators and the CLI read. */
import { Type, type Static } from 'typebox';

const Figures = Type.Object(
  {
    success: Type.Literal(true),
    message: Type.Literal('SUCCESS'),
    nodes: Type.Integer({ minimum: 1, description: 'Gateway nodes these figures cover.' }),
    users: Type.Integer({
      minimum: 0,
      description: 'Users with at least one socket in /v1/shared (in a cluster, a user connected to two nodes counts twice).',
    }),
    sockets: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'Connected sockets per namespace.' }),
    partial: Type.Optional(Type.Literal(true, { description: 'Some gateway node did not answer in time; its figures are missing.' })),
  },
  { examples: [{ success: true, message: 'SUCCESS', nodes: 1, users: 2, sockets: { '/v1/shared': 3, '/v1/lead-finder': 1 } }] },
);
export type Figures = Static<typeof Figures>;

/** `GET /stats`: connected users and sockets. */
export const Stats = {
  summary: 'Connected users and sockets per namespace',
  tags: ['Operations'],
  response: { 200: Figures },
};
