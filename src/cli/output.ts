import { type Command, Option } from 'commander';
import type { ApiConnection } from './api-client.js';

/** Raised for a command used wrongly; the CLI exits 2. */
export class UsageError extends Error {}

export type Output = { json: boolean };

export function print(output: Output, value: unknown, human: () => string): void {
  process.stdout.write(output.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((row) =>
    columns.map((c) => (row[c] === null || row[c] === undefined ? '-' : String(row[c]))),
  );
  const widths = columns.map((c, i) =>
    Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}

/** The options every command that talks to a running Avow takes. */
export function withConnection(command: Command): Command {
  return command
    .addOption(
      new Option('--url <url>', 'Avow server URL').env('AVOW_URL').default('http://127.0.0.1:8080'),
    )
    .addOption(new Option('--api-key <key>', 'API key (avow_...)').env('AVOW_API_KEY'))
    .addOption(
      new Option('--tenant <id>', 'tenant to act on, for installation keys').env('AVOW_TENANT'),
    )
    .option('--json', 'print JSON for scripts', false);
}

export function connection(options: {
  url: string;
  apiKey?: string;
  tenant?: string;
}): ApiConnection {
  if (!options.apiKey)
    throw new UsageError(
      'Set AVOW_API_KEY or pass --api-key (the operator key printed on first start).',
    );
  return { url: options.url, apiKey: options.apiKey, tenant: options.tenant };
}
