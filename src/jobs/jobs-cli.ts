import type { Command } from 'commander';
import { callApi } from '../cli/api-client.js';
import { connection, print, table, withConnection } from '../cli/output.js';
import { loadConfig } from '../config/config.js';
import type { JobStatus } from './jobs.js';
import { runWorker } from './worker.js';

export function registerJobCommands(program: Command): void {
  withConnection(
    program
      .command('jobs')
      .description('List background job queues with counts by state, and schedules (operator key)'),
  ).action(async (options) => {
    const status = await callApi<JobStatus>(connection(options), 'GET', '/v1/jobs');
    print(options, status, () => {
      const queues = status.queues.map((queue) => ({ name: queue.name, ...queue.counts }));
      return [
        table(queues, ['name', 'created', 'retry', 'active', 'completed', 'failed', 'cancelled']),
        '',
        'Schedules:',
        table(status.schedules, ['name', 'cron', 'timezone']),
      ].join('\n');
    });
  });

  program
    .command('worker')
    .description(
      'Work background jobs without serving HTTP, to scale out beside servers on PostgreSQL (DATABASE_URL). ' +
        'Not for the embedded database: its folder belongs to one process, and `avow serve` works jobs itself (AVOW_WORKER=true).',
    )
    .action(async () => runWorker(loadConfig()));
}
