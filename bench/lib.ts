import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

/** One measured number, with the baseline it is judged against when it has one. */
export type BenchResult = {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  ratio?: number;
  target?: number;
  notes?: string;
};

export type HttpLoad = {
  url: string;
  headers?: Record<string, string>;
  method?: 'GET' | 'POST';
  body?: string;
  /** Bodies sent in turn instead of `body`, one per request across all connections. */
  bodies?: string[];
};

export type HttpMeasure = {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
};

/** Drives load with autocannon for a fixed time; the server runs in another process. */
export async function measureHttp(
  load: HttpLoad,
  options: { seconds?: number; connections?: number } = {},
): Promise<HttpMeasure> {
  let next = 0;
  const bodies = load.bodies;
  const result = await autocannon({
    url: load.url,
    method: load.method ?? 'GET',
    headers: load.headers,
    body: load.body,
    ...(bodies && bodies.length > 0
      ? {
          requests: [
            {
              setupRequest: (request: autocannon.Request) => {
                next = (next + 1) % bodies.length;
                return { ...request, body: bodies[next] };
              },
            },
          ],
        }
      : {}),
    connections: options.connections ?? 32,
    pipelining: 1,
    duration: options.seconds ?? benchSeconds(),
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/** Seconds per HTTP measurement: AVOW_BENCH_SECONDS, default 3. */
export function benchSeconds(): number {
  const value = Number(process.env.AVOW_BENCH_SECONDS ?? '3');
  return Number.isFinite(value) && value > 0 ? value : 3;
}

/**
 * Baseline and subject are measured alternately, three times each, and the
 * best run of each kept, so a hiccup on this 2-core machine does not decide a ratio.
 */
export async function compareHttp(
  baseline: HttpLoad,
  subject: HttpLoad,
  options: { seconds?: number; connections?: number; rounds?: number } = {},
): Promise<{ baseline: HttpMeasure; subject: HttpMeasure }> {
  const best = (a: HttpMeasure | undefined, b: HttpMeasure) =>
    a === undefined || b.requestsPerSecond > a.requestsPerSecond ? b : a;
  await measureHttp(baseline, { ...options, seconds: 1 }); // warm-up
  await measureHttp(subject, { ...options, seconds: 1 });
  let base: HttpMeasure | undefined;
  let subj: HttpMeasure | undefined;
  for (let round = 0; round < (options.rounds ?? 3); round += 1) {
    base = best(base, await measureHttp(baseline, options));
    subj = best(subj, await measureHttp(subject, options));
  }
  if (!base || !subj) throw new Error('compareHttp needs at least one round');
  if (subj.errors + subj.non2xx > 0)
    throw new Error(
      `the measured route answered ${subj.non2xx} non-2xx replies and ${subj.errors} errors`,
    );
  return { baseline: base, subject: subj };
}

/** Starts a TypeScript file as a child process; it prints one JSON line when ready. */
export async function startChild<T>(
  file: string,
  env: Record<string, string> = {},
): Promise<{ info: T; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [path.resolve('bin/run-ts.js'), file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [first] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`${file} exited with ${code} before it was ready`);
    }),
  ])) as [string];
  return {
    info: JSON.parse(first) as T,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export function ratioResult(
  name: string,
  unit: string,
  subject: number,
  baseline: { name: string; value: number },
  /** Undefined: a number to read, not a target to meet. */
  target: number | undefined,
  notes?: string,
): BenchResult {
  return {
    name,
    unit,
    value: subject,
    baseline,
    ratio: subject / baseline.value,
    ...(target !== undefined ? { target } : {}),
    ...(notes ? { notes } : {}),
  };
}
