import type { Command } from 'commander';
import { callApi } from '../cli/api-client.js';
import { connection, print, table, UsageError, withConnection } from '../cli/output.js';

type Subject = { id: string; kind: string; status: string };

function identityFrom(options: {
  email?: string;
  phone?: string;
  accountId?: string;
  external?: string;
}) {
  if (options.email) return { kind: 'email', value: options.email };
  if (options.phone) return { kind: 'phone', value: options.phone };
  if (options.accountId) return { kind: 'account_id', value: options.accountId };
  if (options.external) {
    const at = options.external.indexOf('=');
    if (at < 1) throw new UsageError('--external takes TYPE=VALUE, e.g. hubspot=12345');
    return {
      kind: 'external',
      type: options.external.slice(0, at),
      value: options.external.slice(at + 1),
    };
  }
  throw new UsageError('Give one of --email, --phone, --account-id or --external TYPE=VALUE');
}

/**
 * The subject timestamps `subjects update` sets, by API field, with their
 * option (commander names each option's value after the field).
 */
const timestampOptions: Record<string, string> = {
  lastActivityAt: '--last-activity-at',
  relationshipStartedAt: '--relationship-started-at',
  relationshipEndedAt: '--relationship-ended-at',
  contractEndedAt: '--contract-ended-at',
  roleEndedAt: '--role-ended-at',
  accountDeletedAt: '--account-deleted-at',
};

const collect = (value: string, previous: string[]) => [...previous, value];

/** A TIME option: "now", "none" (null: cleared), or passed on for the server to check. */
function timeOption(value: string, flag: string): string | null {
  if (value === 'none') return null;
  if (value === 'now') return new Date().toISOString();
  if (value === '')
    throw new UsageError(`${flag} needs a time: ISO 8601 with an offset, now or none`);
  return value;
}

export function registerVaultCommands(program: Command): void {
  const subjects = program
    .command('subjects')
    .description('Find, read, update, erase and merge data subjects in the vault');

  withConnection(
    subjects
      .command('find')
      .description('Find a subject by an identity (sent in a POST body, never in a URL)'),
  )
    .option('--email <email>')
    .option('--phone <phone>', 'international form, e.g. +358401234567')
    .option('--account-id <id>')
    .option('--external <type=value>')
    .action(async (options) => {
      const subject = await callApi<Subject>(
        connection(options),
        'POST',
        '/v1/subjects/lookup',
        identityFrom(options),
      );
      print(options, subject, () =>
        table([subject as unknown as Record<string, unknown>], ['id', 'kind', 'status']),
      );
    });

  withConnection(
    subjects
      .command('show')
      .description('A subject: state, timestamps, purpose states, record categories (no values)')
      .argument('<subjectId>'),
  ).action(async (subjectId: string, options) => {
    const out = await callApi<{
      subject: Subject & Record<string, unknown>;
      records: Record<string, unknown>[];
      identityKinds: string[];
      purposeStates: Record<string, unknown>[];
    }>(connection(options), 'GET', `/v1/subjects/${encodeURIComponent(subjectId)}`);
    const timestamps = Object.keys(timestampOptions)
      .filter((field) => out.subject[field])
      .map((field) => `${field}: ${out.subject[field]}`);
    print(options, out, () =>
      [
        `${out.subject.id} (${out.subject.kind}, ${out.subject.status}); identities: ${out.identityKinds.join(', ') || '-'}`,
        ...timestamps,
        out.purposeStates.length > 0
          ? table(out.purposeStates, [
              'purpose',
              'consent',
              'consentAt',
              'objectedAt',
              'restrictedAt',
              'fulfilledAt',
            ])
          : '',
        table(out.records, ['id', 'category', 'version', 'collectedAt']),
      ]
        .filter(Boolean)
        .join('\n'),
    );
  });

  const update = withConnection(
    subjects
      .command('update')
      .description(
        'Set a subject’s kind, the timestamps retention reads, or the purposes fulfilled for it. A TIME is ISO 8601 with an offset, "now", or "none" to clear it',
      )
      .argument('<subjectId>'),
  ).option('--kind <key>', 'a data subject key of the active register');
  for (const [field, flag] of Object.entries(timestampOptions))
    update.option(`${flag} <time>`, `sets ${field}`);
  update
    .option(
      '--fulfilled <purpose[=time]>',
      'a purpose that has done its work for this subject, since TIME (default now); repeatable',
      collect,
      [],
    )
    .option(
      '--not-fulfilled <purpose>',
      'a purpose that was marked fulfilled by mistake; repeatable',
      collect,
      [],
    )
    .action(async (subjectId: string, options) => {
      const body: Record<string, unknown> = {};
      if (options.kind !== undefined) body.kind = options.kind;
      for (const [field, flag] of Object.entries(timestampOptions)) {
        const value = options[field] as string | undefined;
        if (value !== undefined) body[field] = timeOption(value, flag);
      }
      const fulfilled: Record<string, string | null> = {};
      for (const item of options.fulfilled as string[]) {
        const at = item.indexOf('=');
        const purpose = at < 0 ? item : item.slice(0, at);
        if (!purpose) throw new UsageError('--fulfilled takes PURPOSE or PURPOSE=TIME');
        fulfilled[purpose] =
          at < 0 ? new Date().toISOString() : timeOption(item.slice(at + 1), '--fulfilled');
      }
      for (const purpose of options.notFulfilled as string[]) {
        if (fulfilled[purpose] !== undefined)
          throw new UsageError(`${purpose} is given to both --fulfilled and --not-fulfilled`);
        fulfilled[purpose] = null;
      }
      if (Object.keys(fulfilled).length > 0) body.fulfilledPurposes = fulfilled;
      if (Object.keys(body).length === 0) {
        throw new UsageError(
          `Nothing to change: give --kind, a timestamp (${Object.values(timestampOptions).join(', ')}), --fulfilled or --not-fulfilled`,
        );
      }
      const subject = await callApi<Subject>(
        connection(options),
        'PATCH',
        `/v1/subjects/${encodeURIComponent(subjectId)}`,
        body,
      );
      print(options, subject, () => `Updated ${subject.id}: ${Object.keys(body).join(', ')}.`);
    });

  withConnection(
    subjects
      .command('data')
      .description('Read a subject’s data for a purpose')
      .argument('<subjectId>'),
  )
    .requiredOption('--purpose <key>', 'a purpose of the register; only what it may use is shown')
    .action(async (subjectId: string, options) => {
      const out = await callApi<{
        records: Record<string, unknown>[];
        withheld: { category: string; reasons: string[] }[];
      }>(
        connection(options),
        'GET',
        `/v1/subjects/${encodeURIComponent(subjectId)}/data?purpose=${encodeURIComponent(options.purpose)}`,
      );
      print(options, out, () =>
        [
          table(
            out.records.map((r) => ({ ...r, value: JSON.stringify(r.value) })),
            ['id', 'category', 'value'],
          ),
          ...out.withheld.map((w) => `withheld ${w.category}: ${w.reasons.join(', ')}`),
        ].join('\n'),
      );
    });

  withConnection(
    subjects
      .command('erase')
      .description('Erase a subject: destroy its key and delete its data')
      .argument('<subjectId>'),
  )
    .option('--request <id>', 'the rights request this fulfils')
    .action(async (subjectId: string, options) => {
      const out = await callApi<{ records: number; identities: number }>(
        connection(options),
        'POST',
        `/v1/subjects/${encodeURIComponent(subjectId)}/erase`,
        options.request ? { rightsRequestId: options.request } : {},
      );
      print(
        options,
        out,
        () =>
          `Erased ${subjectId}: key destroyed, ${out.records} records and ${out.identities} identities deleted.`,
      );
    });

  withConnection(
    subjects
      .command('pseudonymize')
      .description('Pseudonymise a subject, keeping what the register keeps')
      .argument('<subjectId>'),
  )
    .option('--keep <categories>', 'comma-separated categories to keep instead of the register’s')
    .action(async (subjectId: string, options) => {
      const body = options.keep
        ? {
            keepCategories: String(options.keep)
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          }
        : {};
      const out = await callApi<{
        pseudonym: string;
        retained: { category: string; reason: string }[];
      }>(
        connection(options),
        'POST',
        `/v1/subjects/${encodeURIComponent(subjectId)}/pseudonymize`,
        body,
      );
      print(options, out, () =>
        [
          `${subjectId} is now ${out.pseudonym}`,
          ...out.retained.map((r) => `kept ${r.category}: ${r.reason}`),
        ].join('\n'),
      );
    });

  withConnection(
    subjects
      .command('merge')
      .description('Merge subject FROM into subject INTO')
      .argument('<from>')
      .argument('<into>'),
  ).action(async (from: string, into: string, options) => {
    const out = await callApi<{ recordsMoved: number; identitiesMoved: number }>(
      connection(options),
      'POST',
      '/v1/subjects/merge',
      { from, into },
    );
    print(
      options,
      out,
      () =>
        `Merged ${from} into ${into}: ${out.identitiesMoved} identities, ${out.recordsMoved} records moved.`,
    );
  });

  withConnection(
    program
      .command('decide')
      .description('May a purpose use a subject’s data? Prints the answer and its reasons'),
  )
    .requiredOption('--subject <id>')
    .requiredOption('--purpose <key>')
    .option('--categories <list>', 'comma-separated categories (default: the purpose’s)')
    .action(async (options) => {
      const categories = options.categories
        ? String(options.categories)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
      const out = await callApi<{
        allowed: boolean;
        reasons: string[];
        registerVersion: string | null;
      }>(connection(options), 'POST', '/v1/decisions', {
        subjectId: options.subject,
        purpose: options.purpose,
        categories,
      });
      print(
        options,
        out,
        () =>
          `${out.allowed ? 'allowed' : `denied: ${out.reasons.join(', ')}`} (register version ${out.registerVersion ?? '-'})`,
      );
    });
}
