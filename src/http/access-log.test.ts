import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../server/logger.js';
import { createAccessLog } from './access-log.js';

/** A logger as the service makes them, writing into an array of lines. */
function capturedLogger(level: string) {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger(level, out), lines };
}

const fields = {
  reqId: 'rid_0123abc1',
  method: 'GET',
  route: '/v1/subjects/:id/records',
  status: 200,
  ms: 3,
};

describe('access line', () => {
  it('is the line pino writes for the same fields, key for key and in the same order', () => {
    const viaPino = capturedLogger('info');
    viaPino.logger.info(fields, 'request');
    const direct = capturedLogger('info');
    const { route, ...rest } = fields;
    createAccessLog(direct.logger)({ ...rest, routeJson: JSON.stringify(route) });

    expect(direct.lines).toHaveLength(1);
    const expected = JSON.parse(viaPino.lines[0] ?? '') as Record<string, unknown>;
    const written = JSON.parse(direct.lines[0] ?? '') as Record<string, unknown>;
    expect(Object.keys(written)).toEqual(Object.keys(expected));
    expect({ ...written, time: 0 }).toEqual({ ...expected, time: 0 });
    expect(Math.abs((written.time as number) - (expected.time as number))).toBeLessThan(5000);
  });

  it('escapes a route pattern and method as JSON', () => {
    const { logger, lines } = capturedLogger('info');
    createAccessLog(logger)({
      ...fields,
      method: 'GET',
      routeJson: JSON.stringify('/v1/"odd"\\route'),
    });
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ route: '/v1/"odd"\\route' });
  });

  it('writes nothing when the log level is above info', () => {
    const { logger, lines } = capturedLogger('warn');
    createAccessLog(logger)({ ...fields, routeJson: '"/v1/whoami"' });
    expect(lines).toEqual([]);
  });
});
