import { createInterface } from 'node:readline';

/**
 * Answers each line on standard input with this process's CPU time so far
 * (user + system, in microseconds), so a benchmark can tell what a server
 * spent per request apart from what the load generator beside it spent.
 */
export function answerCpuQueries(): void {
  createInterface({ input: process.stdin }).on('line', () => {
    const used = process.cpuUsage();
    process.stdout.write(`${used.user + used.system}\n`);
  });
}
