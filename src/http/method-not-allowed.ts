/**
 * Answers 405 with an `Allow` header when a path exists under another method, instead of Fastify's
 * 404: the caller learns that the path is right and the method is wrong.
 */
import type { FastifyInstance, FastifyPluginAsync, HTTPMethods } from 'fastify';
import { fail } from '../errors.js';

const METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * Records every route registered after this call; register the returned plugin after the routes,
 * and it adds a 405 route for each method a recorded path does not serve.
 */
export function answerWrongMethods(app: FastifyInstance): FastifyPluginAsync {
  const methodsByUrl = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    if ((route.config as { wrongMethod?: boolean } | undefined)?.wrongMethod) return;
    const methods = methodsByUrl.get(route.url) ?? new Set<string>();
    for (const method of [route.method].flat()) methods.add(method);
    methodsByUrl.set(route.url, methods);
  });
  return async (scope) => {
    for (const [url, methods] of methodsByUrl) {
      const others = METHODS.filter((m) => !methods.has(m));
      if (others.length === 0) continue;
      const allow = [...methods].sort().join(', ');
      scope.route({
        method: others,
        url,
        config: { wrongMethod: true },
        handler: async (request) => {
          throw fail('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${url}; use ${allow}`, { allow });
        },
      });
    }
  };
}
