import type { Command } from 'commander';
import { callApi } from '../cli/api-client.js';
import { connection, print, table, UsageError, withConnection } from '../cli/output.js';
import type { RetentionReport } from './retention-service.js';

/** A report as it arrives over HTTP: the service's, with its time as a string. */
type Report = Omit<RetentionReport, 'asOf'> & { asOf: string };
type Run = { id: string; status: string; startedBy: string; startedAt: string; report: Report };
type Preview = {
  report: Report;
  items: {
    recordId: string;
    subjectId: string;
    category: string;
    rule: string;
    action: string;
    trigger: string | null;
    dueAt: string;
  }[];
};
type Hold = {
  id: string;
  scope: string;
  target: string | null;
  reason: string;
  createdAt: string;
  releasedAt: string | null;
};

function describeReport(report: Report, verb: string): string {
  const rows = report.rules.flatMap((r) =>
    r.categories.map((c) => ({
      rule: r.rule,
      action: r.action,
      category: c.category,
      [verb]: c.due,
      held: c.held,
      kept: c.kept,
    })),
  );
  return [
    `${report.total} record(s) ${verb} at ${report.asOf}; ${report.held} held by legal holds; ${report.kept} kept by statutory or audit-log keeps; ${report.subjectsErased} subject(s) erased.`,
    rows.length ? table(rows, ['rule', 'action', 'category', verb, 'held', 'kept']) : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** `avow retention ...` and `avow holds ...` over the HTTP API (a key with the retention or admin scope). */
export function registerRetentionCommands(program: Command): void {
  const retention = program
    .command('retention')
    .description('Retention sweeps: run one (--dry-run to preview), list past runs, read a report');

  withConnection(
    retention
      .command('run')
      .description('Sweep now; with --dry-run list what would go and why, changing nothing'),
  )
    .option(
      '--dry-run',
      'list what would go (rule, trigger, due date) without changing anything',
      false,
    )
    .option('--as-of <time>', 'with --dry-run: preview a sweep at this ISO 8601 time')
    .option('--limit <n>', 'with --dry-run: how many records to list', '50')
    .action(
      async (options: {
        dryRun: boolean;
        asOf?: string;
        limit: string;
        json: boolean;
        url: string;
        apiKey?: string;
        tenant?: string;
      }) => {
        if (options.asOf && !options.dryRun)
          throw new UsageError(
            '--as-of works only with --dry-run: a real sweep runs at the present time',
          );
        if (options.dryRun) {
          const preview = await callApi<Preview>(
            connection(options),
            'POST',
            '/v1/retention/runs',
            {
              dryRun: true,
              limit: Number(options.limit),
              ...(options.asOf ? { asOf: options.asOf } : {}),
            },
          );
          print(options, preview, () =>
            [
              describeReport(preview.report, 'would go'),
              '',
              table(preview.items, [
                'recordId',
                'subjectId',
                'category',
                'rule',
                'action',
                'trigger',
                'dueAt',
              ]),
            ].join('\n'),
          );
          return;
        }
        const run = await callApi<Run>(connection(options), 'POST', '/v1/retention/runs', {});
        print(
          options,
          run,
          () => `Run ${run.id} ${run.status}.\n${describeReport(run.report, 'removed')}`,
        );
      },
    );

  withConnection(
    retention.command('runs').description('Reports of past sweeps, newest first'),
  ).action(async (options) => {
    const page = await callApi<{ items: Run[] }>(connection(options), 'GET', '/v1/retention/runs');
    print(options, page, () =>
      table(
        page.items.map((r) => ({
          id: r.id,
          status: r.status,
          startedAt: r.startedAt,
          startedBy: r.startedBy,
          removed: r.report.total,
          held: r.report.held,
        })),
        ['id', 'status', 'startedAt', 'startedBy', 'removed', 'held'],
      ),
    );
  });

  withConnection(
    retention.command('report <runId>').description('One sweep and its report'),
  ).action(async (runId: string, options) => {
    const run = await callApi<Run>(
      connection(options),
      'GET',
      `/v1/retention/runs/${encodeURIComponent(runId)}`,
    );
    print(
      options,
      run,
      () =>
        `Run ${run.id} ${run.status}, by ${run.startedBy}.\n${describeReport(run.report, 'removed')}`,
    );
  });

  const holds = program
    .command('holds')
    .description('Legal holds: what no retention sweep may touch');
  withConnection(
    holds
      .command('create')
      .description('Place a legal hold on a subject, a category or the whole tenant'),
  )
    .requiredOption('--scope <scope>', 'subject | category | tenant')
    .option('--target <target>', 'the subject id or category key (not for tenant)')
    .requiredOption('--reason <reason>', 'why, e.g. the case it is held for')
    .action(
      async (options: {
        scope: string;
        target?: string;
        reason: string;
        json: boolean;
        url: string;
        apiKey?: string;
        tenant?: string;
      }) => {
        const hold = await callApi<Hold>(connection(options), 'POST', '/v1/legal-holds', {
          scope: options.scope,
          reason: options.reason,
          ...(options.target ? { target: options.target } : {}),
        });
        print(
          options,
          hold,
          () =>
            `Placed legal hold ${hold.id} on ${hold.scope}${hold.target ? ` ${hold.target}` : ''}.`,
        );
      },
    );
  withConnection(holds.command('list').description('Legal holds'))
    .option('--active', 'only holds not released', false)
    .action(
      async (options: {
        active: boolean;
        json: boolean;
        url: string;
        apiKey?: string;
        tenant?: string;
      }) => {
        const page = await callApi<{ items: Hold[] }>(
          connection(options),
          'GET',
          `/v1/legal-holds${options.active ? '?active=true' : ''}`,
        );
        print(options, page, () =>
          table(page.items, ['id', 'scope', 'target', 'reason', 'createdAt', 'releasedAt']),
        );
      },
    );
  withConnection(holds.command('release <holdId>').description('Release a legal hold'))
    .option('--reason <reason>', 'why it is released')
    .action(
      async (
        holdId: string,
        options: { reason?: string; json: boolean; url: string; apiKey?: string; tenant?: string },
      ) => {
        const hold = await callApi<Hold>(
          connection(options),
          'POST',
          `/v1/legal-holds/${encodeURIComponent(holdId)}/release`,
          options.reason ? { reason: options.reason } : {},
        );
        print(options, hold, () => `Released legal hold ${hold.id}.`);
      },
    );
}
