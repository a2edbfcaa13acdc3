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
/** Lines are written once this many characters are buffered. */
const chunkLength = 16384;

/**
 * Where the service's logs go (a file descriptor or a file path): lines are
 * gathered into chunks of about 16 KB and each chunk is written in one
 * synchronous write, so a log line costs neither a write of its own nor a
 * hand-off to libuv's thread pool (which, measured, cost more per request than
 * the write). A system call is dear on a virtual machine: in a profile of the
 * HTTP benchmark, a write of a 4 KB chunk cost about 12 µs, half a microsecond
 * per access line; a 16 KB chunk spreads it over four times the lines. A quiet service still writes every line within a second, and
 * what is buffered is written when the process exits. A hard crash of the
 * machine can lose that last second of log lines (never audit events: those
 * are in the database). As with pino's default destination, a reader that
 * stops reading (a full pipe) holds the service up rather than letting logs
 * pile up in memory. `flushSync()` writes the buffer at once, for moments a
 * person is watching (start-up).
 *
 * The lines are kept in an array and joined once per chunk. sonic-boom, which
 * does the writing (partial writes, EAGAIN, reopening), buffers by appending to
 * one string and measures that string's UTF-8 length again on every line: an
 * access line cost about 1.4 µs that way and 0.9 µs this way (a loop of a
 * million lines to /dev/null).
 */
export type LogDestination = DestinationStream & { flushSync(): void };

export function logDestination(to: number | string): LogDestination {
  const out = pino.destination({ dest: to, sync: true });
  let lines: string[] = [];
  let buffered = 0;
  const flushSync = () => {
    if (lines.length === 0) return;
    const chunk = lines.join('');
    lines = [];
    buffered = 0;
    out.write(chunk);
  };
  const timer = setInterval(flushSync, flushIntervalMs);
  timer.unref();
  // Pino flushes only asynchronous destinations at exit; this one holds up
  // to 16 KB too. At exit there is nowhere left to report a failed write.
  process.once('exit', () => {
    clearInterval(timer);
    try {
      flushSync();
    } catch {}
  });
  return {
    write(line: string) {
      lines.push(line);
      buffered += line.length;
      if (buffered >= chunkLength) flushSync();
    },
    flushSync,
  };
}
