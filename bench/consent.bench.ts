import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { bannerBundle } from '../src/consent/banner/bundle.js';
import { type BenchResult, compareHttp, startChild } from './lib.js';

type Servers = { barePort: number; avowPort: number; token: string; subjectId: string };

const BUDGET = 10 * 1024;
const gzipped = (...parts: string[]) => gzipSync(parts.join('\n'), { level: 9 }).length;
const require = createRequire(import.meta.url);
const dist = (pkg: string, file: string) =>
  readFileSync(
    path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'dist', file),
    'utf8',
  );

/** Issue 6: the banner's size beside two open-source banners, and ledger writes and reads over HTTP. */
export async function run(): Promise<BenchResult[]> {
  const ours = gzipped(await bannerBundle()); // the CSS is inside the bundle
  const vanilla = gzipped(
    dist('vanilla-cookieconsent', 'cookieconsent.umd.js'),
    dist('vanilla-cookieconsent', 'cookieconsent.css'),
  );
  const klaro = gzipped(dist('klaro', 'klaro-no-css.js'), dist('klaro', 'klaro.min.css'));
  const sizes: BenchResult[] = [
    {
      name: 'banner: consent.js gzipped (JS + CSS) vs the 10 KB budget',
      unit: 'bytes',
      value: ours,
      baseline: { name: 'budget', value: BUDGET },
      ratio: BUDGET / ours,
      target: 1,
      notes: 'ratio = budget / size',
    },
    {
      name: 'banner: consent.js gzipped vs vanilla-cookieconsent 3 (umd JS + CSS)',
      unit: 'bytes',
      value: ours,
      baseline: { name: 'vanilla-cookieconsent', value: vanilla },
      ratio: vanilla / ours,
      notes: 'ratio = theirs / ours (higher: ours is smaller)',
    },
    {
      name: 'banner: consent.js gzipped vs klaro (no-css JS + min CSS)',
      unit: 'bytes',
      value: ours,
      baseline: { name: 'klaro', value: klaro },
      ratio: klaro / ours,
      notes: 'ratio = theirs / ours (higher: ours is smaller)',
    },
  ];

  const { info, stop } = await startChild<Servers>('bench/servers/consent-servers.ts');
  try {
    const bare = { url: `http://127.0.0.1:${info.barePort}/bare` };
    const auth = { authorization: `Bearer ${info.token}` };
    const writes = await compareHttp(bare, {
      url: `http://127.0.0.1:${info.avowPort}/v1/consent/events`,
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        subjectId: info.subjectId,
        purposes: [{ purpose: 'newsletter', action: 'given' }],
      }),
    });
    const reads = await compareHttp(bare, {
      url: `http://127.0.0.1:${info.avowPort}/v1/consent/state?subjectId=${info.subjectId}`,
      headers: auth,
    });
    return [
      ...sizes,
      {
        name: 'consent: POST /v1/consent/events (ledger + state + decision state + signed receipt + audit, one transaction)',
        unit: 'req/s',
        value: writes.subject.requestsPerSecond,
        baseline: { name: 'bare fastify route', value: writes.baseline.requestsPerSecond },
        ratio: writes.subject.requestsPerSecond / writes.baseline.requestsPerSecond,
        notes: `p99 ${writes.subject.p99Ms} ms; every write commits (${process.env.DATABASE_URL ? 'PostgreSQL pool' : 'one PGlite connection'})`,
      },
      {
        name: 'consent: GET /v1/consent/state (current state, one indexed read)',
        unit: 'req/s',
        value: reads.subject.requestsPerSecond,
        baseline: { name: 'bare fastify route', value: reads.baseline.requestsPerSecond },
        ratio: reads.subject.requestsPerSecond / reads.baseline.requestsPerSecond,
        notes: `p99 ${reads.subject.p99Ms} ms vs ${reads.baseline.p99Ms} ms`,
      },
    ];
  } finally {
    await stop();
  }
}
