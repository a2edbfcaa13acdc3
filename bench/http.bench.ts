import { type BenchResult, compareHttp, ratioResult, startChild } from './lib.js';

type Servers = { barePort: number; avowPort: number; token: string };

/** Issue 2: an authenticated, validated, logged /v1 route against a bare route of the same framework. */
export async function run(): Promise<BenchResult[]> {
  const { info, stop } = await startChild<Servers>('bench/servers/http-servers.ts');
  try {
    const { baseline, subject } = await compareHttp(
      { url: `http://127.0.0.1:${info.barePort}/bare` },
      {
        url: `http://127.0.0.1:${info.avowPort}/v1/whoami`,
        headers: { authorization: `Bearer ${info.token}` },
      },
    );
    return [
      ratioResult(
        'http: GET /v1/whoami (auth + validation + log) vs bare route',
        'req/s',
        subject.requestsPerSecond,
        { name: 'bare fastify route', value: baseline.requestsPerSecond },
        0.8,
        `p99 ${subject.p99Ms} ms vs ${baseline.p99Ms} ms`,
      ),
    ];
  } finally {
    await stop();
  }
}
