import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Structured JSON logs. Headers that carry secrets are redacted wherever they
 * appear, and request logs carry route patterns, not URLs (see http-server.ts).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'avow' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'headers.authorization',
          'headers.cookie',
          '*.token',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
    // Asynchronous writes to standard output: a log line must not hold up a reply.
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
