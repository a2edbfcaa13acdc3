import { Command, CommanderError, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/config.js';
import { KeyConfigError } from '../crypto/installation-keys.js';
import { migrateToLatest } from '../db/migrate.js';
import { avowVersion } from '../server/app.js';
import { openConfiguredDatabase } from '../server/runtime.js';
import { serve } from '../server/serve.js';
import { ApiError, type ApiConnection, callApi } from './api-client.js';

/** Exit codes scripts can rely on. */
export const exitCodes = { ok: 0, failure: 1, usage: 2 } as const;

class UsageError extends Error {}

type Output = { json: boolean };

function print(output: Output, value: unknown, human: () => string): void {
  process.stdout.write(output.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((row) => columns.map((c) => (row[c] === null || row[c] === undefined ? '-' : String(row[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}

function connectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', 'Avow server URL').env('AVOW_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--api-key <key>', 'API key (avow_...)').env('AVOW_API_KEY'))
    .addOption(new Option('--tenant <id>', 'tenant to act on, for installation keys').env('AVOW_TENANT'))
    .option('--json', 'print JSON for scripts', false);
}

function connection(options: { url: string; apiKey?: string; tenant?: string }): ApiConnection {
  if (!options.apiKey) throw new UsageError('Set AVOW_API_KEY or pass --api-key (the operator key printed on first start).');
  return { url: options.url, apiKey: options.apiKey, tenant: options.tenant };
}

type Tenant = { id: string; name: string; role: string; region: string; contractStart: string; contractEnd: string | null };
type ApiKey = { id: string; tenantId: string | null; name: string; prefix: string; scopes: string[]; revokedAt: string | null };

export function buildCli(): Command {
  const program = new Command('avow')
    .description('Avow: privacy policy as code, enforced and provable')
    .version(avowVersion)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description('Run the HTTP service (applies migrations first unless AVOW_MIGRATE_ON_START=false)')
    .action(async () => serve(loadConfig()));

  program
    .command('migrate')
    .description('Apply pending database migrations and exit')
    .option('--json', 'print JSON for scripts', false)
    .action(async (options: Output) => {
      const config = loadConfig();
      const database = await openConfiguredDatabase(config);
      try {
        const outcome = await migrateToLatest(database.db);
        if (!outcome.ok) {
          throw new Error(`Migration ${outcome.failed ?? '(unknown)'} failed and was rolled back: ${String(outcome.error)}`);
        }
        print(options, { applied: outcome.applied }, () =>
          outcome.applied.length ? `Applied: ${outcome.applied.join(', ')}` : 'The schema is current; nothing to apply.',
        );
      } finally {
        await database.close();
      }
    });

  const tenants = program.command('tenants').description('Manage tenants (operator key)');
  connectionOptions(tenants.command('create').description('Create a tenant'))
    .requiredOption('--name <name>', 'tenant name')
    .addOption(new Option('--role <role>', 'controller, or processor for a named controller').choices(['controller', 'processor']).default('controller'))
    .option('--controller-name <name>', 'the controller a processor works for')
    .option('--controller-email <email>', "the controller's contact e-mail")
    .option('--controller-url <url>', "the controller's URL")
    .option('--region <label>', 'data region label', 'eu')
    .option('--contract-start <date>', 'YYYY-MM-DD (default today)')
    .option('--contract-end <date>', 'YYYY-MM-DD')
    .action(async (options) => {
      const controller = options.controllerName
        ? { name: options.controllerName, email: options.controllerEmail, url: options.controllerUrl }
        : undefined;
      const tenant = await callApi<Tenant>(connection(options), 'POST', '/v1/tenants', {
        name: options.name,
        role: options.role,
        controller,
        region: options.region,
        contractStart: options.contractStart,
        contractEnd: options.contractEnd,
      });
      print(options, tenant, () => `Created tenant ${tenant.id} (${tenant.name}, ${tenant.role})`);
    });
  connectionOptions(tenants.command('list').description('List tenants')).action(async (options) => {
    const page = await callApi<{ items: Tenant[] }>(connection(options), 'GET', '/v1/tenants?limit=500');
    print(options, page.items, () => table(page.items, ['id', 'name', 'role', 'region', 'contractStart', 'contractEnd']));
  });

  const keys = program.command('keys').description('Manage API keys');
  connectionOptions(keys.command('create').description('Create an API key; its secret is printed once'))
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--scopes <scopes>', 'comma-separated: admin, register:write, vault:read, vault:write, consent:write, requests, audit:read, operator')
    .option('--for-tenant <id>', 'bind the key to this tenant (default: the caller’s tenant, or the installation)')
    .action(async (options) => {
      const created = await callApi<{ key: ApiKey; token: string }>(connection(options), 'POST', '/v1/keys', {
        name: options.name,
        scopes: String(options.scopes).split(',').map((s) => s.trim()).filter(Boolean),
        ...(options.forTenant ? { tenantId: options.forTenant } : {}),
      });
      print(options, created, () =>
        [`Created ${created.key.id} (${created.key.scopes.join(', ')})${created.key.tenantId ? ` for ${created.key.tenantId}` : ''}.`, 'The key, shown once:', `  ${created.token}`].join('\n'),
      );
    });
  connectionOptions(keys.command('list').description('List API keys'))
    .option('--for-tenant <id>', 'list this tenant’s keys (operators)')
    .option('--include-revoked', 'show revoked keys too', false)
    .action(async (options) => {
      const query = new URLSearchParams({ includeRevoked: String(options.includeRevoked) });
      if (options.forTenant) query.set('tenantId', options.forTenant);
      const page = await callApi<{ items: ApiKey[] }>(connection(options), 'GET', `/v1/keys?${query}`);
      print(options, page.items, () =>
        table(page.items.map((k) => ({ ...k, scopes: k.scopes.join(',') })), ['id', 'prefix', 'name', 'tenantId', 'scopes', 'revokedAt']),
      );
    });
  connectionOptions(keys.command('revoke').description('Revoke an API key').argument('<keyId>', 'key id (key_...)')).action(
    async (keyId: string, options) => {
      const key = await callApi<ApiKey>(connection(options), 'DELETE', `/v1/keys/${encodeURIComponent(keyId)}`);
      print(options, key, () => `Revoked ${key.id}`);
    },
  );

  return program;
}

/** Runs the CLI and returns its exit code; main() is the process entry. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return exitCodes.ok;
      return exitCodes.usage;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`avow: ${error.message}\n`);
      return exitCodes.usage;
    }
    if (error instanceof ApiError) {
      const details = error.details.map((d) => `\n  - ${d.path ? `${d.path}: ` : ''}${d.message}`).join('');
      process.stderr.write(`avow: ${error.message}${details}\n`);
      return exitCodes.failure;
    }
    if (error instanceof ConfigError || error instanceof KeyConfigError) {
      process.stderr.write(`avow: ${error.message}\n`);
      return exitCodes.failure;
    }
    process.stderr.write(`avow: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitCodes.failure;
  }
}
