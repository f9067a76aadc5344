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
    online: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'Distinct users online cluster-wide, from the user directory (a user in the offline grace delay still counts); absent when the directory cannot be read.',
      }),
    ),
    presence: Type.Optional(
      Type.Union([Type.Literal('memory'), Type.Literal('redis'), Type.Literal('workers')], {
        description: 'Where the user directory lives: this process (standalone), Redis, or the primary process of WORKERS.',
      }),
    ),
  },
  { examples: [{ success: true, message: 'SUCCESS', nodes: 1, users: 2, sockets: { '/v1/shared': 3, '/v1/lead-finder': 1 }, online: 2, presence: 'memory' }] },
);
export type Figures = Static<typeof Figures>;

/** `GET /stats`: connected users and sockets. */
export const Stats = {
  summary: 'Connected users and sockets per namespace',
  tags: ['Operations'],
  response: { 200: Figures },
};
