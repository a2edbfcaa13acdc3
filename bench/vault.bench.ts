import { type BenchResult, compareHttp, ratioResult, startChild } from './lib.js';

type Info = {
  barePort: number;
  avowPort: number;
  token: string;
  subjectId: string;
  workingSet: string[];
  loadSeconds: number;
  inProcess: { perSecond: number; p50: number; p99: number };
  batchMs: number;
  erase10: number;
  erase10k: number;
};

/** Issue 4: purpose decisions with 100,000 subjects (in process and over HTTP), and erasure cost. */
export async function run(): Promise<BenchResult[]> {
  const { info, stop } = await startChild<Info>('bench/servers/vault-servers.ts');
  try {
    // A working set of subjects in turn: the first decision for each reads the
    // database, repeats are answered from memory until a write intervenes.
    const bodies = info.workingSet.map((subjectId) =>
      JSON.stringify({ subjectId, purpose: 'newsletter' }),
    );
    const { baseline, subject } = await compareHttp(
      {
        url: `http://127.0.0.1:${info.barePort}/bare`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // The same bodies in turn, so the load generator does the same work for both.
        bodies,
      },
      {
        url: `http://127.0.0.1:${info.avowPort}/v1/decisions`,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${info.token}` },
        bodies,
      },
    );
    return [
      {
        name: 'decisions in process, each subject once (read from the database), 100,000 subjects',
        value: info.inProcess.perSecond,
        unit: 'decisions/s',
        notes: `p50 ${info.inProcess.p50.toFixed(2)} ms, p99 ${info.inProcess.p99.toFixed(2)} ms; 100,000 subjects loaded in bulk SQL in ${info.loadSeconds.toFixed(1)} s`,
      },
      ratioResult(
        'decisions over HTTP: POST /v1/decisions vs bare route',
        'req/s',
        subject.requestsPerSecond,
        { name: 'bare fastify POST route', value: baseline.requestsPerSecond },
        0.5,
        `${bodies.length.toLocaleString('en-US')} subjects in turn; p50 ${subject.p50Ms} ms, p99 ${subject.p99Ms} ms vs ${baseline.p50Ms} / ${baseline.p99Ms} ms`,
      ),
      {
        name: 'batch decision: 10,000 subjects in one call (in process)',
        value: info.batchMs,
        unit: 'ms',
      },
      { name: 'erase a subject with 10 records', value: info.erase10, unit: 'ms' },
      {
        name: 'erase a subject with 10,000 records',
        value: info.erase10k,
        unit: 'ms',
        baseline: { name: 'erase with 10 records', value: info.erase10 },
        ratio: info.erase10k / Math.max(info.erase10, 0.001),
        notes: 'one key destroyed plus indexed deletes: grows with the rows deleted, nothing else',
      },
    ];
  } finally {
    await stop();
  }
}
