import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { App } from './app-types.js';

/** The fields of the one line written per request (see http-server.ts). */
export type AccessLine = {
  /** One of the service's own request ids (letters, digits, `_`): written as it is, unescaped. */
  reqId: string;
  method: string;
  /** The route pattern as a JSON string, encoded once when the route is added. */
  routeJson: string;
  status: number;
  ms: number;
};

/**
 * Writes the per-request access line straight to the logger's destination,
 * in the logger's own format: pino's level and time, the logger's bindings
 * (`service`), the fields, `msg`. The fields are fixed and hold no secrets, so
 * the line needs none of pino's general work (serializers, redaction, walking
 * an object); built as one template string it costs a fraction of a
 * `logger.info` call, and it is written on every request. logger.test.ts
 * checks the line against the one pino writes for the same fields.
 */
export function createAccessLog(logger: Logger): (line: AccessLine) => void {
  const stream = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
  const bindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym];
  const level = logger.levels.values.info;
  if (stream === undefined || typeof bindings !== 'string' || level === undefined) {
    throw new Error('createAccessLog needs a pino logger with a destination');
  }
  // Methods are few (Node's parser accepts only the ones it knows): each is
  // encoded once, not on every line.
  const methodsJson = new Map<string, string>();
  const methodJson = (method: string) => {
    let json = methodsJson.get(method);
    if (json === undefined) {
      json = JSON.stringify(method);
      methodsJson.set(method, json);
    }
    return json;
  };
  return (line) => {
    if (logger.levelVal > level) return;
    stream.write(
      `{"level":${level},"time":${Date.now()}${bindings},"reqId":"${line.reqId}","method":${methodJson(line.method)},"route":${line.routeJson},"status":${line.status},"ms":${line.ms},"msg":"request"}\n`,
    );
  };
}

/**
 * One line per request, with the route pattern rather than the URL, so that
 * identifiers in paths or queries never reach the log. Each route gets a hook
 * that knows its own pattern when it is added (looking it up per request,
 * through `request.routeOptions`, cost more than writing the line); requests
 * no route matched are logged by the not-found handler, as `unmatched`.
 *
 * The line is written when the reply is handed to the socket (onSend), and
 * `ms` is the time until then. Writing it when the reply has finished
 * (onResponse) would make Fastify listen for every reply's finish event,
 * which measured cost more than the line itself; for a JSON reply the two
 * moments are the same, for a streamed export `ms` is the time until the
 * stream starts.
 */
export function installAccessLog(app: App, writeAccessLine: (line: AccessLine) => void): void {
  app.addHook('onRoute', (route) => {
    const routeJson = JSON.stringify(route.url);
    const own = route.onSend === undefined ? [] : [route.onSend].flat();
    const logged: onSendHookHandler = (request, reply, payload, done) => {
      writeAccessLine(accessLine(routeJson, request, reply));
      done(null, payload);
    };
    route.onSend = [...own, logged];
  });
}

export const unmatchedRouteJson = JSON.stringify('unmatched');

export function accessLine(
  routeJson: string,
  request: FastifyRequest,
  reply: FastifyReply,
): AccessLine {
  return {
    reqId: request.id,
    method: request.method,
    routeJson,
    status: reply.statusCode,
    ms: request.startedAt === 0 ? 0 : Math.round(performance.now() - request.startedAt),
  };
}
