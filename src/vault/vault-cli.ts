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

export function registerVaultCommands(program: Command): void {
  const subjects = program
    .command('subjects')
    .description('Find, read, erase and merge data subjects in the vault');

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
      .description('A subject: state, timestamps, record categories (no values)')
      .argument('<subjectId>'),
  ).action(async (subjectId: string, options) => {
    const out = await callApi<{
      subject: Subject;
      records: Record<string, unknown>[];
      identityKinds: string[];
    }>(connection(options), 'GET', `/v1/subjects/${encodeURIComponent(subjectId)}`);
    print(options, out, () =>
      [
        `${out.subject.id} (${out.subject.kind}, ${out.subject.status}); identities: ${out.identityKinds.join(', ') || '-'}`,
        table(out.records, ['id', 'category', 'version', 'collectedAt']),
      ].join('\n'),
    );
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
