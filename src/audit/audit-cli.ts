import { createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import { type ApiConnection, ApiError, callApi } from '../cli/api-client.js';
import {
  connection,
  type Output,
  print,
  table,
  UsageError,
  withConnection,
} from '../cli/output.js';
import type { ChainProblem, VerifyResult } from './audit-chain.js';
import { ExportFormatError, verifyExportFile } from './audit-offline.js';

/** Where a problem is: lane and seq, and the entry or checkpoint it names. */
function where(p: ChainProblem | null): string {
  if (!p) return '';
  const at = p.lane === undefined ? 'checkpoint' : `lane ${p.lane} seq ${p.seq ?? '?'}`;
  return `${at}${p.entryId ? ` (${p.entryId})` : ''}${p.checkpointId ? ` [${p.checkpointId}]` : ''}`;
}

function describe(result: VerifyResult): string {
  const range =
    result.firstPosition === null
      ? 'no entries'
      : `positions ${result.firstPosition}..${result.lastPosition} in ${result.lanes} lanes`;
  if (result.ok)
    return `OK: ${result.tenantId}: ${result.entries} entries (${range}), ${result.checkpoints} signed checkpoints, chains and signatures intact`;
  const lines = result.problems.slice(0, 20).map((p) => `  ${where(p)}: ${p.reason}`);
  return [
    `TAMPERED: ${result.tenantId}: first bad at ${where(result.firstBad)}: ${result.firstBad?.reason}`,
    `${result.problems.length} problem(s) in ${result.entries} entries:`,
    ...lines,
  ].join('\n');
}

function finish(options: Output, result: VerifyResult): void {
  print(options, result, () => describe(result));
  // A failed verification is a failure exit for scripts; the details are printed above.
  if (!result.ok)
    throw new Error(`the audit log does not verify (first bad at ${where(result.firstBad)})`);
}

async function download(conn: ApiConnection, path: string): Promise<Response> {
  const headers: Record<string, string> = {};
  if (conn.apiKey) headers.authorization = `Bearer ${conn.apiKey}`;
  if (conn.tenant) headers['avow-tenant'] = conn.tenant;
  let response: Response;
  try {
    response = await fetch(new URL(path, conn.url), { headers });
  } catch {
    throw new ApiError(
      0,
      'unreachable',
      `Cannot reach Avow at ${conn.url}; is it running (npm start)?`,
    );
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => undefined)) as
      | { error?: { code: string; message: string } }
      | undefined;
    throw new ApiError(
      response.status,
      body?.error?.code ?? 'http_error',
      body?.error?.message ?? `HTTP ${response.status}`,
    );
  }
  return response;
}

function filterParams(options: Record<string, string | undefined>): URLSearchParams {
  const params = new URLSearchParams();
  for (const name of ['subject', 'actor', 'action', 'purpose', 'from', 'to']) {
    const value = options[name];
    if (value !== undefined) params.set(name, value);
  }
  return params;
}

function withFilters(command: Command): Command {
  return command
    .option('--subject <id>', 'events about this subject')
    .option('--actor <id>', 'events by this actor (API key id, ...)')
    .option('--action <names>', 'comma-separated actions, e.g. subject.read,login.failed')
    .option('--purpose <key>', 'events for this purpose')
    .option('--from <time>', 'ISO 8601 time, inclusive')
    .option('--to <time>', 'ISO 8601 time, exclusive');
}

export function registerAuditCommands(program: Command): void {
  const audit = program
    .command('audit')
    .description('The tamper-evident audit log: search, export, verify');

  withConnection(
    audit
      .command('verify')
      .description(
        'Verify the chain and its signatures (online, or offline from an export with --file)',
      ),
  )
    .option('--file <export.jsonl>', 'verify this export offline: no server, no database')
    .option(
      '--public-key <key.pem>',
      "the installation's public key (GET /v1/audit/public-key); needed with --file",
    )
    .action(async (options) => {
      if (options.file) {
        if (!options.publicKey)
          throw new UsageError(
            '--file needs --public-key <key.pem> (save it with `avow audit public-key --out key.pem`)',
          );
        let pem: string;
        try {
          pem = readFileSync(options.publicKey, 'utf8');
        } catch {
          throw new UsageError(`cannot read the public key file ${options.publicKey}`);
        }
        try {
          finish(options, await verifyExportFile(options.file, pem));
        } catch (error) {
          if (error instanceof ExportFormatError)
            throw new UsageError(`${options.file}: ${error.message}`);
          if ((error as NodeJS.ErrnoException).code === 'ENOENT')
            throw new UsageError(`cannot read ${options.file}`);
          throw error;
        }
        return;
      }
      finish(options, await callApi<VerifyResult>(connection(options), 'GET', '/v1/audit/verify'));
    });

  withFilters(withConnection(audit.command('list').description('Search the log, newest first')))
    .option('--limit <n>', 'how many', '50')
    .option('--cursor <cursor>', 'nextCursor of the previous page')
    .action(async (options) => {
      const params = filterParams(options);
      params.set('limit', options.limit);
      if (options.cursor) params.set('cursor', options.cursor);
      type Item = {
        seq: number;
        at: string;
        actor: { type: string; id: string };
        action: string;
        subjectId: string | null;
        purpose: string | null;
        outcome: string;
        ip: string | null;
      };
      const page = await callApi<{ items: Item[]; nextCursor: string | null }>(
        connection(options),
        'GET',
        `/v1/audit?${params}`,
      );
      print(options, page, () => {
        const rows = page.items.map((i) => ({ ...i, actor: `${i.actor.type}:${i.actor.id}` }));
        const more = page.nextCursor ? `\nmore: --cursor ${page.nextCursor}` : '';
        return `${table(rows, ['seq', 'at', 'actor', 'action', 'subjectId', 'purpose', 'outcome', 'ip'])}${more}`;
      });
    });

  withConnection(
    audit
      .command('logins')
      .description('Login attempts per account, with outcome, time, IP and user agent'),
  )
    .option('--account <keyId>', 'one account')
    .addOption(new Option('--outcome <outcome>').choices(['success', 'failure']))
    .option('--limit <n>', 'how many', '50')
    .action(async (options) => {
      const params = new URLSearchParams({ limit: options.limit });
      if (options.account) params.set('account', options.account);
      if (options.outcome) params.set('outcome', options.outcome);
      const page = await callApi<{ items: Record<string, unknown>[] }>(
        connection(options),
        'GET',
        `/v1/audit/logins?${params}`,
      );
      print(options, page, () =>
        table(page.items, ['at', 'account', 'outcome', 'reason', 'ip', 'userAgent']),
      );
    });

  withFilters(
    withConnection(
      audit
        .command('export')
        .description(
          'Export the log: jsonl (the whole chain, verifiable offline) or csv (filtered)',
        ),
    ),
  )
    .addOption(new Option('--format <format>').choices(['jsonl', 'csv']).default('jsonl'))
    .requiredOption('--out <file>', 'where to write it')
    .action(async (options) => {
      const params = filterParams(options);
      params.set('format', options.format);
      const response = await download(connection(options), `/v1/audit/export?${params}`);
      if (!response.body) throw new Error('the export came back empty');
      await pipeline(
        Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
        createWriteStream(options.out),
      );
      print(options, { file: options.out }, () => `Wrote ${options.out}`);
    });

  withConnection(
    audit
      .command('public-key')
      .description("The installation's Ed25519 public key for offline verification"),
  )
    .option('--out <file>', 'write it to a file')
    .action(async (options) => {
      const response = await download(
        { url: options.url, apiKey: undefined },
        '/v1/audit/public-key',
      );
      const pem = await response.text();
      if (options.out) {
        await pipeline(Readable.from([pem]), createWriteStream(options.out));
        print(options, { file: options.out }, () => `Wrote ${options.out}`);
      } else {
        process.stdout.write(pem);
      }
    });
}
