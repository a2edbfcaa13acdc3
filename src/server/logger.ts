import { type Logger, pino } from 'pino';

/**
 * Structured JSON logs. Headers that carry secrets are redacted wherever they
 * appear, and request logs carry route patterns, not URLs (see http-server.ts).
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
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
    destination ?? process.stdout,
  );
}
