import {
  type BenchResult,
  compareHttp,
  ratioResult,
  ratioSpread,
  serverCpu,
  startChild,
} from './lib.js';

type Servers = {
  barePort: number;
  avowPort: number;
  referencePort: number;
  referenceWithoutHeadersPort: number;
  token: string;
};

/** Issue 2: an authenticated, validated, logged /v1 route against a bare route of the same framework. */
export async function run(): Promise<BenchResult[]> {
  const { info, stop, cpuMicros } = await startChild<Servers>('bench/servers/http-servers.ts');
  // The load generator runs beside the servers on the same cores; the
  // servers' own CPU per request shows how much of a gap is their work.
  const measuring = { serverCpuMicros: cpuMicros };
  try {
    const bare = { url: `http://127.0.0.1:${info.barePort}/bare` };
    const authorization = { authorization: `Bearer ${info.token}` };
    const { baseline, subject, ratios } = await compareHttp(
      bare,
      { url: `http://127.0.0.1:${info.avowPort}/v1/whoami`, headers: authorization },
      measuring,
    );
    const byHand = await compareHttp(
      bare,
      { url: `http://127.0.0.1:${info.referencePort}/v1/whoami`, headers: authorization },
      measuring,
    );
    const withoutHeaders = await compareHttp(
      bare,
      {
        url: `http://127.0.0.1:${info.referenceWithoutHeadersPort}/v1/whoami`,
        headers: authorization,
      },
      measuring,
    );
    return [
      ratioResult(
        'http: GET /v1/whoami (auth + validation + log) vs bare route',
        'req/s',
        subject.requestsPerSecond,
        { name: 'bare fastify route', value: baseline.requestsPerSecond },
        0.8,
        `p99 ${subject.p99Ms} ms vs ${baseline.p99Ms} ms; ${ratioSpread(ratios)}; ${serverCpu(baseline, subject)}`,
      ),
      // No target: how far the same duties (headers, key check, access line,
      // serialized reply) written by hand, with no Avow code, get on this machine.
      ratioResult(
        'http, reference: the same duties by hand in two hooks vs bare route',
        'req/s',
        byHand.subject.requestsPerSecond,
        { name: 'bare fastify route', value: byHand.baseline.requestsPerSecond },
        undefined,
        `${ratioSpread(byHand.ratios)}; ${serverCpu(byHand.baseline, byHand.subject)}`,
      ),
      // No target: the reference less the security headers (Avow keeps
      // them on every reply); the difference to the line above is their cost.
      ratioResult(
        'http, reference without the security headers vs bare route',
        'req/s',
        withoutHeaders.subject.requestsPerSecond,
        { name: 'bare fastify route', value: withoutHeaders.baseline.requestsPerSecond },
        undefined,
        `${ratioSpread(withoutHeaders.ratios)}; ${serverCpu(withoutHeaders.baseline, withoutHeaders.subject)}`,
      ),
    ];
  } finally {
    await stop();
  }
}
