/** Schemas of the liveness and readiness probes. */
import { Type, type Static } from 'typebox';

/** `GET /healthz`: the process is up and serving. */
export const Health = {
  summary: 'Liveness: the process is up',
  tags: ['Operations'],
  response: { 200: Type.Object({ status: Type.Literal('ok') }) },
};

const Readiness = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Record(
    Type.String(),
    Type.Object({
      ok: Type.Boolean(),
      detail: Type.Optional(Type.String()),
    }),
    { description: 'One entry per dependency (database, cluster bus), each ok or not.' },
  ),
});
export type Readiness = Static<typeof Readiness>;

/** `GET /readyz`: 200 when every dependency answers, 503 when one does not. */
export const Ready = {
  summary: 'Readiness: every dependency answers',
  tags: ['Operations'],
  description: 'Answers 503 with the same body when a dependency does not answer; while the gateway shuts down, 503 in the error shape.',
  response: { 200: Readiness, 503: Readiness },
};
