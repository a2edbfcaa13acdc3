import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import helmet from 'helmet';

/**
 * Security headers for pages (HTML), helmet's, worked out once: the values do
 * not depend on the request. Routes that answer HTML set them with `asPage`,
 * on top of the headers every reply has (HSTS among them, when the
 * installation is served over HTTPS: see `apiHeaders`).
 */
export const documentHeaders: Record<string, string> = (() => {
  const headers: Record<string, string> = {};
  const collector = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = value;
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet({
    strictTransportSecurity: false,
    // The API docs page loads its own scripts and styles from this server.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
      },
    },
  })({} as IncomingMessage, collector as unknown as ServerResponse, () => {});
  return headers;
})();

/** Makes a reply an HTML page: its content type and the document security headers. */
export function asPage(reply: FastifyReply): FastifyReply {
  return reply.type('text/html; charset=utf-8').headers(documentHeaders);
}
