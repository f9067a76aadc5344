/**
 * Registers every operation of the route table (api/operations.ts) with the handler that src/routes/
 * supplies for it. What a route's row says (needs the key, is an emit) decides its guards here, once,
 * instead of route by route: a handler module only says what the operation does.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  ContextConfigDefault,
  FastifyBaseLogger,
  FastifyInstance,
  FastifySchema,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
  RouteHandlerMethod,
  onRequestHookHandler,
} from 'fastify';
import { operations, withAccess, type Operation, type Operations } from '../api/operations.js';
import type { OperationId } from '../api/routes.js';
import type { IdempotencyHooks } from '../http/idempotency.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route table's `emit`: the route sends events (the metrics count it as an emit). */
    emit?: boolean;
  }
}

/** A route handler typed by its operation's schema. */
export type Handler<Schema extends FastifySchema> = RouteHandlerMethod<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  RouteGenericInterface,
  ContextConfigDefault,
  Schema,
  TypeBoxTypeProvider,
  FastifyBaseLogger
>;

/** One handler per operation: a gateway cannot be built with an operation left out. */
export type Handlers = { readonly [Id in OperationId]: Handler<Operations[Id]['schema']> };

/** What guards the routes that are not public. */
export interface RouteGuards {
  /** The onRequest hook that checks `ALLOWED_IPS` and the API key. */
  readonly access: onRequestHookHandler;
  /** Registers the rate limiter in a scope; in the key routes' scope it counts the emit routes only. */
  readonly rateLimit: (scope: FastifyInstance) => Promise<void>;
  /** Operations served without the key whatever their row says (`metrics` with METRICS_PUBLIC=true). */
  readonly open?: readonly OperationId[];
  /** The hooks that honour an emit's `Idempotency-Key` (http/idempotency.ts); every emit route gets them. */
  readonly idempotency?: IdempotencyHooks;
}

/** Prometheus sends the key as `Authorization: Bearer <key>`: read it as `x-api-key` (key-or-bearer routes only). */
const bearerAsKey: onRequestHookHandler = (request, _reply, done) => {
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  if (request.headers['x-api-key'] === undefined && bearer !== undefined) request.headers['x-api-key'] = bearer;
  done();
};

/** The operations a gateway serves: the route table, with `open` ones made public. */
export function servedOperations(open: readonly OperationId[] = []): Operation[] {
  return (Object.keys(operations) as OperationId[]).map((id) => (open.includes(id) ? withAccess(id, 'public') : operations[id]) as Operation);
}

/** Registers a route per operation, each behind the guards its row asks for. */
export async function registerRoutes(app: FastifyInstance, handlers: Handlers, guards: RouteGuards): Promise<void> {
  const served = servedOperations(guards.open);
  const add = (scope: FastifyInstance, op: Operation): void => {
    scope.route({
      method: op.method,
      url: op.url,
      schema: op.schema,
      handler: handlers[op.operationId] as RouteHandlerMethod,
      // Every emit route of the limited scope shares the key's one budget; other routes must not use it.
      // The access hook reads the scope a key needs and the event the route sends.
      config: {
        ...(op.emit ? { emit: true } : { rateLimit: false }),
        ...(op.scope && { scope: op.scope }),
        ...(op.event !== undefined && { event: op.event }),
        ...(op.eventsInBody && { eventsInBody: true }),
      },
      // A HEAD must never send events.
      exposeHeadRoute: !op.emit,
      ...(op.emit && guards.idempotency && { preHandler: guards.idempotency.preHandler, onSend: guards.idempotency.onSend }),
    });
  };
  const having = (access: Operation['access']) => served.filter((op) => op.access === access);

  for (const op of having('public')) add(app, op);
  await app.register(async (scope) => {
    scope.addHook('onRequest', bearerAsKey);
    scope.addHook('onRequest', guards.access);
    for (const op of having('key-or-bearer')) add(scope, op);
  });
  await app.register(async (scope) => {
    // The access hook runs first, so that the limiter counts only calls that presented a valid key.
    scope.addHook('onRequest', guards.access);
    await guards.rateLimit(scope);
    for (const op of having('key')) add(scope, op);
  });
}
