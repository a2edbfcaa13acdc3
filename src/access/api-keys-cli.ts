import type { Command } from 'commander';
import { callApi } from '../cli/api-client.js';
import { connection, print, table, withConnection } from '../cli/output.js';
import type { ApiKey } from './api-keys-store.js';
import { scopes } from './scopes.js';

export function registerApiKeyCommands(program: Command): void {
  const keys = program.command('keys').description('Manage API keys');
  withConnection(
    keys.command('create').description('Create an API key; its secret is printed once'),
  )
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--scopes <scopes>', `comma-separated, from: ${scopes.join(', ')}`)
    .option(
      '--for-tenant <id>',
      'bind the key to this tenant (default: the caller’s tenant, else the one --tenant names, else the installation)',
    )
    .action(async (options) => {
      const created = await callApi<{ key: ApiKey; token: string }>(
        connection(options),
        'POST',
        '/v1/keys',
        {
          name: options.name,
          scopes: String(options.scopes)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          ...(options.forTenant ? { tenantId: options.forTenant } : {}),
        },
      );
      print(options, created, () =>
        [
          `Created ${created.key.id} (${created.key.scopes.join(', ')})${created.key.tenantId ? ` for ${created.key.tenantId}` : ''}.`,
          'The key, shown once:',
          `  ${created.token}`,
        ].join('\n'),
      );
    });

  withConnection(keys.command('list').description('List API keys'))
    .option('--for-tenant <id>', 'list this tenant’s keys (operators)')
    .option('--include-revoked', 'show revoked keys too', false)
    .action(async (options) => {
      const query = new URLSearchParams({ includeRevoked: String(options.includeRevoked) });
      if (options.forTenant) query.set('tenantId', options.forTenant);
      const page = await callApi<{ items: ApiKey[] }>(
        connection(options),
        'GET',
        `/v1/keys?${query}`,
      );
      print(options, page.items, () =>
        table(
          page.items.map((k) => ({ ...k, scopes: k.scopes.join(',') })),
          ['id', 'prefix', 'name', 'tenantId', 'scopes', 'revokedAt'],
        ),
      );
    });

  withConnection(
    keys.command('revoke').description('Revoke an API key').argument('<keyId>', 'key id (key_...)'),
  ).action(async (keyId: string, options) => {
    const key = await callApi<ApiKey>(
      connection(options),
      'DELETE',
      `/v1/keys/${encodeURIComponent(keyId)}`,
    );
    print(options, key, () => `Revoked ${key.id}`);
  });
}
