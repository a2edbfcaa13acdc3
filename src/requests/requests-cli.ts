import { type Command, Option } from 'commander';
import { callApi } from '../cli/api-client.js';
import { connection, print, table, withConnection } from '../cli/output.js';
import { requestStatuses, requestTypes } from './requests-model.js';

type RequestRow = {
  id: string;
  type: string;
  status: string;
  dueDate: string;
  overdue: boolean;
  paused: boolean;
  extension: string | null;
  requester: { email: string; name: string | null } | null;
  outcome: { actions: string[]; kept: { what: string; reason: string }[] } | null;
  statusReason: string | null;
  timeline: { at: string; actor: string; message: string }[] | null;
};

const row = (r: RequestRow) => ({
  ...r,
  due: `${r.dueDate}${r.overdue ? ' OVERDUE' : ''}${r.paused ? ' (paused)' : ''}`,
});

export function registerRequestCommands(program: Command): void {
  const requests = program
    .command('requests')
    .description('Rights requests: deadlines, timeline, transitions, extension, fulfilment');

  withConnection(requests.command('list').description('List requests, soonest due (overdue) first'))
    .option('--status <statuses>', `comma-separated: ${requestStatuses.join(', ')}`)
    .addOption(new Option('--type <type>', 'request type').choices([...requestTypes]))
    .option('--overdue', 'only open requests past their due date')
    .action(async (options) => {
      const query = new URLSearchParams({ limit: '500', sort: 'due' });
      if (options.status) query.set('status', options.status);
      if (options.type) query.set('type', options.type);
      if (options.overdue) query.set('overdue', 'true');
      const page = await callApi<{ items: RequestRow[] }>(
        connection(options),
        'GET',
        `/v1/requests?${query}`,
      );
      print(options, page.items, () => table(page.items.map(row), ['id', 'type', 'status', 'due']));
    });

  withConnection(
    requests
      .command('show')
      .description('Show a request with its timeline')
      .argument('<requestId>'),
  ).action(async (id: string, options) => {
    const r = await callApi<RequestRow>(
      connection(options),
      'GET',
      `/v1/requests/${encodeURIComponent(id)}`,
    );
    print(options, r, () =>
      [
        `${r.id}  ${r.type}  ${r.status}  due ${row(r).due}${r.extension ? ` (extended ${r.extension})` : ''}`,
        r.requester
          ? `requester: ${r.requester.name ? `${r.requester.name} ` : ''}<${r.requester.email}>`
          : '',
        r.statusReason ? `reason: ${r.statusReason}` : '',
        ...(r.outcome
          ? [
              'done:',
              ...r.outcome.actions.map((a) => `  - ${a}`),
              ...r.outcome.kept.map((k) => `  kept ${k.what}: ${k.reason}`),
            ]
          : []),
        'timeline:',
        ...(r.timeline ?? []).map((t) => `  ${t.at}  ${t.actor}  ${t.message}`),
      ]
        .filter((l) => l !== '')
        .join('\n'),
    );
  });

  withConnection(
    requests
      .command('transition')
      .description('Move a request to another state')
      .argument('<requestId>')
      .argument('<to>', requestStatuses.join(', ')),
  )
    .option(
      '--reason <text>',
      'sent to the requester (rejected, awaiting_requester, partially_completed)',
    )
    .option('--method <method>', 'for verified: the verification method used')
    .option('--summary <text>', 'for completed by hand: what was done')
    .action(async (id: string, to: string, options) => {
      const r = await callApi<RequestRow>(
        connection(options),
        'POST',
        `/v1/requests/${encodeURIComponent(id)}/transition`,
        {
          to,
          reason: options.reason,
          method: options.method,
          summary: options.summary,
        },
      );
      print(options, r, () => `${r.id} is now ${r.status} (due ${row(r).due})`);
    });

  withConnection(
    requests
      .command('extend')
      .description('Extend the deadline once, with a reason sent to the requester')
      .argument('<requestId>'),
  )
    .requiredOption('--reason <text>', 'why more time is needed')
    .option('--duration <iso>', 'up to P2M (default: the register’s extension)')
    .action(async (id: string, options) => {
      const r = await callApi<RequestRow>(
        connection(options),
        'POST',
        `/v1/requests/${encodeURIComponent(id)}/extend`,
        {
          reason: options.reason,
          duration: options.duration,
        },
      );
      print(options, r, () => `${r.id} is now due ${r.dueDate}`);
    });

  withConnection(
    requests
      .command('fulfil')
      .description('Carry out a verified request and send the signed receipt')
      .argument('<requestId>'),
  )
    .addOption(
      new Option('--erasure-method <method>', 'for erasure').choices(['delete', 'pseudonymize']),
    )
    .action(async (id: string, options) => {
      const r = await callApi<RequestRow>(
        connection(options),
        'POST',
        `/v1/requests/${encodeURIComponent(id)}/fulfil`,
        {
          ...(options.erasureMethod ? { erasureMethod: options.erasureMethod } : {}),
        },
      );
      print(options, r, () =>
        [`${r.id} ${r.status}`, ...(r.outcome?.actions ?? []).map((a) => `  - ${a}`)].join('\n'),
      );
    });
}
