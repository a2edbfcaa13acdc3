import { Command, CommanderError } from 'commander';
import { registerApiKeyCommands } from '../access/api-keys-cli.js';
import { registerAuditCommands } from '../audit/audit-cli.js';
import { registerBackupCommands } from '../backup/backup-cli.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { registerConsentCommands } from '../consent/consent-cli.js';
import { KeyConfigError } from '../crypto/installation-keys.js';
import { registerMasterKeyCommands } from '../crypto/master-key-cli.js';
import { migrateToLatest } from '../db/migrate.js';
import { registerJobCommands } from '../jobs/jobs-cli.js';
import { registerRegisterCommands } from '../register/register-cli.js';
import { registerRequestCommands } from '../requests/requests-cli.js';
import { registerRetentionCommands } from '../retention/retention-cli.js';
import { avowVersion } from '../server/app.js';
import { openConfiguredDatabase } from '../server/runtime.js';
import { serve } from '../server/serve.js';
import { registerTenantCommands } from '../tenancy/tenants-cli.js';
import { registerVaultCommands } from '../vault/vault-cli.js';
import { ApiError } from './api-client.js';
import { type Output, print, UsageError } from './output.js';

/** Exit codes scripts can rely on. */
export const exitCodes = { ok: 0, failure: 1, usage: 2 } as const;

export function buildCli(): Command {
  const program = new Command('avow')
    .description('Avow: privacy policy as code, enforced and provable')
    .version(avowVersion)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description(
      'Run the HTTP service (applies migrations first unless AVOW_MIGRATE_ON_START=false)',
    )
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
          throw new Error(
            `Migration ${outcome.failed ?? '(unknown)'} failed and was rolled back: ${String(outcome.error)}`,
          );
        }
        print(options, { applied: outcome.applied }, () =>
          outcome.applied.length
            ? `Applied: ${outcome.applied.join(', ')}`
            : 'The schema is current; nothing to apply.',
        );
      } finally {
        await database.close();
      }
    });

  // Each domain adds its own commands.
  registerTenantCommands(program);
  registerRegisterCommands(program);
  registerApiKeyCommands(program);
  registerVaultCommands(program);
  registerMasterKeyCommands(program);
  registerJobCommands(program);
  registerConsentCommands(program);
  registerAuditCommands(program);
  registerRetentionCommands(program);
  registerBackupCommands(program);
  registerRequestCommands(program);

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
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return exitCodes.ok;
      return exitCodes.usage;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`avow: ${error.message}\n`);
      return exitCodes.usage;
    }
    if (error instanceof ApiError) {
      const details = error.details
        .map((d) => `\n  - ${d.path ? `${d.path}: ` : ''}${d.message}`)
        .join('');
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
