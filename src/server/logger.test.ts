import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, logDestination } from './logger.js';

const folder = mkdtempSync(path.join(tmpdir(), 'avow-logs-'));
let files = 0;
const newFile = () => {
  files += 1;
  return path.join(folder, `log-${files}.jsonl`);
};
const linesOf = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

afterEach(() => {
  vi.useRealTimers();
});

describe('log destination', () => {
  it('holds lines until 16 KB are buffered, then writes them in order', () => {
    const file = newFile();
    const logger = createLogger('info', logDestination(file));
    logger.info({ n: 1 }, 'first');
    logger.info({ n: 2 }, 'second');
    expect(readFileSync(file, 'utf8')).toBe('');

    for (let n = 3; n <= 200; n += 1) logger.info({ n, filler: 'x'.repeat(80) }, 'more');
    const written = linesOf(file).map((line) => line.n);
    expect(written.length).toBeGreaterThan(0);
    expect(written).toEqual(Array.from({ length: written.length }, (_, i) => i + 1));
  });

  it('writes everything buffered on flushSync, as the server does at start-up', () => {
    const file = newFile();
    const logs = logDestination(file);
    const logger = createLogger('info', logs);
    logger.info({ port: 8080 }, 'listening');
    logs.flushSync();
    expect(linesOf(file)).toEqual([
      expect.objectContaining({ level: 30, service: 'avow', port: 8080, msg: 'listening' }),
    ]);
  });

  it('writes a quiet service’s lines within a second', () => {
    vi.useFakeTimers();
    const file = newFile();
    const logger = createLogger('info', logDestination(file));
    logger.info('one quiet line');
    vi.advanceTimersByTime(999);
    expect(readFileSync(file, 'utf8')).toBe('');
    vi.advanceTimersByTime(1);
    expect(linesOf(file).map((line) => line.msg)).toEqual(['one quiet line']);
  });

  it('writes what is buffered when the process exits', () => {
    const file = newFile();
    const script = path.join(folder, 'exit.mts');
    writeFileSync(
      script,
      [
        `import { createLogger, logDestination } from ${JSON.stringify(path.resolve('src/server/logger.ts'))};`,
        `const logger = createLogger('info', logDestination(${JSON.stringify(file)}));`,
        `logger.info('last words');`,
        'process.exit(3);',
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, [path.resolve('bin/run-ts.js'), script], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(3);
    expect(linesOf(file).map((line) => line.msg)).toEqual(['last words']);
  });
});
