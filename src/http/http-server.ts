import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyError,
  type FastifyReply,
  type FastifyRequest,
  LogController,
  type RawServerDefault,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { type Logger, pino } from 'pino';
import { AppError, type ErrorCode, type ErrorDetail, errorStatus } from '../errors/errors.js';
import { accessLine, createAccessLog, installAccessLog, unmatchedRouteJson } from './access-log.js';
import type { App } from './app-types.js';
import { documentHeaders } from './pages.js';
import { replySerializerCompiler } from './serializer.js';

export type HttpServerOptions = {
  logger: Logger;
  trustProxy: boolean;
  publicUrl: string;
  version: string;
};

const fastifyErrorCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
};

function sendError(
  reply: FastifyReply,
  request: FastifyRequest,
  code: ErrorCode,
  message: string,
  details?: ErrorDetail[],
) {
  return reply.status(errorStatus[code]).send({
    error: { code, message, requestId: String(request.id), ...(details ? { details } : {}) },
  });
}

/** Turns anything thrown in a route into the one reply shape; a client's mistake is never a 500. */
function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AppError) {
    return sendError(reply, request, error.code, error.message, error.details);
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'body';
    const details = error.validation.map((issue) => {
      const path = [where, ...issue.instancePath.split('/').filter(Boolean)].join('.');
      return { path, message: issue.message ?? 'is not valid' };
    });
    const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
    return sendError(
      reply,
      request,
      'validation_failed',
      `The request is not valid: ${summary}`,
      details,
    );
  }
  const mapped = error.code ? fastifyErrorCodes[error.code] : undefined;
  if (mapped) {
    const message =
      mapped === 'invalid_json'
        ? 'The body is not valid JSON; send a JSON object with Content-Type: application/json'
        : error.message;
    return sendError(reply, request, mapped, message);
  }
  if (error.statusCode === 429) return sendError(reply, request, 'rate_limited', error.message);
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return sendError(reply, request, 'bad_request', error.message);
  }
  // Unexpected: the stack goes to the log, never the text to the client.
  request.log.error({ reqId: request.id, err: error }, 'unhandled error');
  return sendError(
    reply,
    request,
    'internal',
    'Something went wrong on our side; quote the requestId if you report it',
  );
}

/**
 * Security headers for every reply, as OWASP's REST guidance lists them: an
 * API reply is never a document, never framed and never cached (it may hold
 * personal data). Routes that serve other origins or public, cacheable files
 * override these per reply; pages add the document headers (`asPage`).
 *
 * HSTS only when the installation is reached over HTTPS (its public URL says
 * so): RFC 6797 (7.2) forbids the header on replies over plain HTTP, where
 * browsers ignore it anyway.
 */
export function apiHeaders(publicUrl: string): Readonly<Record<string, string>> {
  return {
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
    'cross-origin-resource-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
    ...(new URL(publicUrl).protocol === 'https:'
      ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' }
      : {}),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
  };
}

/**
 * Request ids need to be unique, not secret or sortable: a random prefix for
 * this process (64 bits, so two processes or restarts do not share one) and a
 * counter. Cheaper than random bytes per request. Letters, digits and `_`
 * only: the access line writes the id unescaped.
 */
function requestIds(): () => string {
  const prefix = `rid_${randomBytes(8).toString('hex')}`;
  let next = 0;
  return () => {
    next += 1;
    return `${prefix}${next.toString(36)}`;
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** performance.now() when the request's first hook ran; 0 if none ran (a URL Fastify could not parse). */
    startedAt: number;
  }
}

/**
 * How the request and reply objects Fastify passes to its log lines are
 * written: the method and status only. Never the URL (it can hold
 * identifiers) or headers (they hold keys).
 */
const frameworkLogSerializers = {
  req: (request: FastifyRequest) => ({ method: request.method }),
  res: (reply: FastifyReply) => ({ statusCode: reply.statusCode }),
  err: pino.stdSerializers.err,
};

export async function createHttpServer(options: HttpServerOptions): Promise<App> {
  // Fastify is not handed the logger when it is made: given one, it listens
  // for every reply's finish event, which measured cost more than a request's
  // own log line. It logs through app.log, request.log and reply.log, and all
  // three are set to the service's logger below, so nothing it says is lost.
  const app = Fastify<RawServerDefault, IncomingMessage, ServerResponse, Logger>({
    // Fastify's own request lines carry the URL; ours (installAccessLog) carry the route pattern.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: options.trustProxy,
    genReqId: requestIds(),
    // An incoming id is not trusted: ours are unique and cannot be forged into the logs.
    requestIdHeader: false,
    bodyLimit: 5 * 1024 * 1024,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<ZodTypeProvider>();

  // No child logger per request (it cost more than the route): the lines a
  // request logs carry its id themselves. request.log and reply.log are set
  // in the first hook rather than by a child logger factory, which Fastify
  // checks for a complete logger on every request.
  const log = options.logger.child({}, { serializers: frameworkLogSerializers });
  app.log = log;
  const writeAccessLine = createAccessLog(options.logger);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(replySerializerCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    reply.status(errorStatus.not_found);
    writeAccessLine(accessLine(unmatchedRouteJson, request, reply));
    return sendError(
      reply,
      request,
      'not_found',
      `There is no route ${request.method} ${request.url.split('?')[0]}; see /docs`,
    );
  });

  const headers = apiHeaders(options.publicUrl);
  app.decorateRequest('startedAt', 0);
  app.addHook('onRequest', (request, reply, done) => {
    request.startedAt = performance.now();
    request.log = log;
    reply.log = log;
    reply.headers(headers);
    reply.header('x-request-id', request.id);
    done();
  });
  installAccessLog(app, writeAccessLine);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Avow API',
        version: options.version,
        description:
          'Privacy policy as code: the register, the personal-data vault, purpose decisions, consent, rights requests and the audit log.',
      },
      servers: [{ url: options.publicUrl }],
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'An Avow API key: avow_<id>_<secret>',
          },
        },
      },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // Its page with its init script moved to a file, under our page policy
    // (swagger-ui styles elements inline).
    staticCSP: documentHeaders['content-security-policy'] ?? true,
    uiHooks: {
      onRequest: (_request, reply, done) => {
        reply.headers(documentHeaders);
        done();
      },
    },
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
