import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Structured JSON logs. Headers that carry secrets are redacted wherever they
 * appear, and request logs carry route patterns, not URLs (see http-server.ts).
 */
export function createLogger(
  level: string,
  destination: DestinationStream = logDestination(1),
): Logger {
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
    destination,
  );
}

/** How long a log line may wait in the buffer when the service is quiet. */
const flushIntervalMs = 1000;

/**
 * Where the service's logs go (a file descriptor or a file path): written
 * asynchronously and in chunks of 4 KB, as pino's asynchronous logging
 * describes, so a log line neither holds up a reply nor costs a write of its
 * own. A quiet service still writes every line within a second, and pino
 * writes what is buffered when the process exits. A hard crash of the
 * machine can lose that last second of log lines (never audit events: those
 * are in the database). `flushSync()` writes the buffer at once, for moments a
 * person is watching (start-up).
 */
export type LogDestination = ReturnType<typeof pino.destination>;

export function logDestination(to: number | string): LogDestination {
  return pino.destination({
    dest: to,
    sync: false,
    minLength: 4096,
    periodicFlush: flushIntervalMs,
  });
}
