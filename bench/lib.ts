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
  /** CPU time the server process spent per request (user + system), when the server reports it. */
  serverCpuMicrosPerRequest?: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
};

/** Drives load with autocannon for a fixed time; the server runs in another process. */
export async function measureHttp(
  load: HttpLoad,
  options: { seconds?: number; connections?: number; serverCpuMicros?: () => Promise<number> } = {},
): Promise<HttpMeasure> {
  const cpuBefore = await options.serverCpuMicros?.();
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
  const cpuAfter = await options.serverCpuMicros?.();
  return {
    requestsPerSecond: result.requests.average,
    ...(cpuBefore !== undefined && cpuAfter !== undefined && result.requests.total > 0
      ? { serverCpuMicrosPerRequest: (cpuAfter - cpuBefore) / result.requests.total }
      : {}),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/** Seconds per HTTP measurement: AVOW_BENCH_SECONDS, default 1. */
export function benchSeconds(): number {
  return positiveNumber(process.env.AVOW_BENCH_SECONDS, 1);
}

/** Rounds per HTTP comparison: AVOW_BENCH_ROUNDS, default 15. */
export function benchRounds(): number {
  return Math.max(1, Math.round(positiveNumber(process.env.AVOW_BENCH_ROUNDS, 15)));
}

function positiveNumber(text: string | undefined, fallback: number): number {
  const value = Number(text ?? fallback);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * Baseline and subject are measured back to back in each round, and the
 * round whose subject/baseline ratio is the median is reported. This machine
 * is a shared VM: its speed can halve for seconds at a time. Pairing each
 * subject run with the baseline run next to it, and taking the median pair,
 * keeps one slow or fast moment from deciding the ratio. Many short rounds
 * (15 of a second each) pair closer moments than a few long ones: with five
 * rounds of three seconds, two runs of the same code read 0.70 and 0.98; with
 * fifteen of one second, six runs of the same code read from 0.66 to 0.77.
 */
export async function compareHttp(
  baseline: HttpLoad,
  subject: HttpLoad,
  options: {
    seconds?: number;
    connections?: number;
    rounds?: number;
    /** The server process's CPU time so far (startChild's `cpuMicros`), to report CPU per request. */
    serverCpuMicros?: () => Promise<number>;
  } = {},
): Promise<{ baseline: HttpMeasure; subject: HttpMeasure; ratios: number[] }> {
  await measureHttp(baseline, { ...options, seconds: 1 }); // warm-up
  await measureHttp(subject, { ...options, seconds: 1 });
  const rounds: { baseline: HttpMeasure; subject: HttpMeasure; ratio: number }[] = [];
  for (let round = 0; round < (options.rounds ?? benchRounds()); round += 1) {
    const base = await measureHttp(baseline, options);
    const subj = await measureHttp(subject, options);
    if (subj.errors + subj.non2xx > 0)
      throw new Error(
        `the measured route answered ${subj.non2xx} non-2xx replies and ${subj.errors} errors`,
      );
    rounds.push({
      baseline: base,
      subject: subj,
      ratio: subj.requestsPerSecond / base.requestsPerSecond,
    });
  }
  const ratios = rounds.map((r) => r.ratio).sort((x, y) => x - y);
  const median = rounds.find((r) => r.ratio === ratios[Math.floor((ratios.length - 1) / 2)]);
  if (!median) throw new Error('compareHttp needs at least one round');
  return { baseline: median.baseline, subject: median.subject, ratios };
}

/** How much the per-round ratios moved during the run, for a result's notes. */
export function ratioSpread(ratios: number[]): string {
  const sorted = [...ratios].sort((x, y) => x - y);
  const at = (fraction: number) =>
    (sorted[Math.round((sorted.length - 1) * fraction)] ?? 0).toFixed(2);
  return `${sorted.length} rounds from ${at(0)} to ${at(1)}, the middle half ${at(0.25)} to ${at(0.75)}`;
}

/**
 * Starts a TypeScript file as a child process; it prints one JSON line when
 * ready. `cpuMicros` asks it for the CPU time it has used (a child that calls
 * answerCpuQueries from bench/servers/cpu-queries.ts answers).
 */
export async function startChild<T>(
  file: string,
  env: Record<string, string> = {},
): Promise<{
  info: T;
  child: ChildProcess;
  cpuMicros: () => Promise<number>;
  stop: () => Promise<void>;
}> {
  const child = spawn(process.execPath, [path.resolve('bin/run-ts.js'), file], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
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
    cpuMicros: async () => {
      const answer = once(lines, 'line');
      child.stdin?.write('cpu\n');
      const [line] = (await answer) as [string];
      return Number(line);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** The per-request server CPU of both sides of a comparison, for a result's notes. */
export function serverCpu(baseline: HttpMeasure, subject: HttpMeasure): string {
  const b = baseline.serverCpuMicrosPerRequest;
  const s = subject.serverCpuMicrosPerRequest;
  if (b === undefined || s === undefined) return '';
  return `server CPU ${s.toFixed(1)} µs/request vs ${b.toFixed(1)} (ratio ${(b / s).toFixed(2)})`;
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
