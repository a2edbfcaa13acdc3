import { type Command, Option } from 'commander';
import { callApi } from '../cli/api-client.js';
import { connection, print, table, UsageError, withConnection } from '../cli/output.js';
import { consentActions, consentChannels, consentMedia } from './consent-model.js';

type Event = {
  id: string;
  purpose: string;
  medium: string;
  action: string;
  channel: string;
  at: string;
  receiptId: string;
};
type State = {
  purpose: string;
  medium: string;
  consent: string | null;
  effective: string;
  renewalRequired: boolean;
  updatedAt: string;
};
type Record = { events: Event[]; receipt: { receipt: { consentReceiptID: string } } | null };

const holderQuery = (options: { subject?: string; visitor?: string }) => {
  if (!!options.subject === !!options.visitor)
    throw new UsageError('give exactly one of --subject and --visitor');
  return options.subject ? `subjectId=${options.subject}` : `visitorId=${options.visitor}`;
};
const holderBody = (options: { subject?: string; visitor?: string }) => {
  holderQuery(options);
  return options.subject ? { subjectId: options.subject } : { visitorId: options.visitor };
};
const holderOptions = (command: Command) =>
  command
    .option('--subject <id>', 'a subject id (sub_...)')
    .option('--visitor <id>', 'a banner visitor id (vis_...)');

export function registerConsentCommands(program: Command): void {
  const consent = program
    .command('consent')
    .description('The consent ledger: record, withdraw, read, unsubscribe links');

  holderOptions(
    withConnection(consent.command('record').description('Record consent events for purposes')),
  )
    .requiredOption('--purpose <key...>', 'purpose keys of the register (or cookies.<category>)')
    .addOption(
      new Option('--action <action>', 'what happened')
        .choices([...consentActions])
        .default('given'),
    )
    .addOption(
      new Option('--channel <channel>', 'where the person chose')
        .choices([...consentChannels])
        .default('api'),
    )
    .addOption(
      new Option('--medium <medium>', 'limit to one contact medium').choices([...consentMedia]),
    )
    .action(async (options) => {
      const result = await callApi<Record>(connection(options), 'POST', '/v1/consent/events', {
        ...holderBody(options),
        channel: options.channel,
        purposes: (options.purpose as string[]).map((purpose) => ({
          purpose,
          action: options.action,
          medium: options.medium,
        })),
      });
      print(
        options,
        result,
        () =>
          `Recorded ${result.events.length} event(s); receipt ${result.receipt?.receipt.consentReceiptID ?? '-'}`,
      );
    });

  holderOptions(
    withConnection(
      consent
        .command('withdraw')
        .description('Withdraw consent: every purpose given, or those named'),
    ),
  )
    .option('--purpose <key...>', 'only these purposes')
    .action(async (options) => {
      const result = await callApi<Record>(connection(options), 'POST', '/v1/consent/withdrawals', {
        ...holderBody(options),
        purposes: options.purpose,
      });
      print(options, result, () => `Withdrew ${result.events.length} purpose(s)`);
    });

  holderOptions(
    withConnection(consent.command('state').description('Current consent per purpose')),
  ).action(async (options) => {
    const result = await callApi<{ states: State[] }>(
      connection(options),
      'GET',
      `/v1/consent/state?${holderQuery(options)}`,
    );
    print(options, result, () =>
      table(result.states, [
        'purpose',
        'medium',
        'consent',
        'effective',
        'renewalRequired',
        'updatedAt',
      ]),
    );
  });

  holderOptions(
    withConnection(consent.command('history').description('Consent events, oldest first')),
  )
    .option('--purpose <key>', 'only this purpose')
    .action(async (options) => {
      const purpose = options.purpose ? `&purpose=${encodeURIComponent(options.purpose)}` : '';
      const result = await callApi<{ items: Event[] }>(
        connection(options),
        'GET',
        `/v1/consent/events?${holderQuery(options)}${purpose}&limit=500`,
      );
      print(options, result.items, () =>
        table(result.items, ['at', 'purpose', 'medium', 'action', 'channel', 'receiptId']),
      );
    });

  withConnection(consent.command('receipt').description('One signed consent receipt (JSON)'))
    .argument('<receiptId>', 'rcp_...')
    .action(async (receiptId: string, options) => {
      const result = await callApi<unknown>(
        connection(options),
        'GET',
        `/v1/consent/receipts/${encodeURIComponent(receiptId)}`,
      );
      print({ json: true }, result, () => '');
    });

  withConnection(
    consent
      .command('unsubscribe-link')
      .description('A one-click unsubscribe URL and List-Unsubscribe headers'),
  )
    .requiredOption('--subject <id>', 'the recipient subject (sub_...)')
    .requiredOption('--purpose <key>', 'the purpose the mail is sent for')
    .addOption(
      new Option('--medium <medium>', 'limit to one contact medium').choices([...consentMedia]),
    )
    .option('--mailto <address>', 'an unsubscribe mailbox to list as well')
    .action(async (options) => {
      const result = await callApi<{ url: string; headers: { [name: string]: string } }>(
        connection(options),
        'POST',
        '/v1/consent/unsubscribe-links',
        {
          subjectId: options.subject,
          purpose: options.purpose,
          medium: options.medium,
          mailto: options.mailto,
        },
      );
      print(options, result, () =>
        Object.entries(result.headers)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n'),
      );
    });
}
