import { type Command, Option } from 'commander';
import { callApi } from '../cli/api-client.js';
import { connection, print, table, withConnection } from '../cli/output.js';
import type { Tenant } from './tenants-store.js';

export function registerTenantCommands(program: Command): void {
  const tenants = program.command('tenants').description('Manage tenants (operator key)');
  withConnection(tenants.command('create').description('Create a tenant'))
    .requiredOption('--name <name>', 'tenant name')
    .addOption(
      new Option('--role <role>', 'controller, or processor for a named controller')
        .choices(['controller', 'processor'])
        .default('controller'),
    )
    .option('--controller-name <name>', 'the controller a processor works for')
    .option('--controller-email <email>', "the controller's contact e-mail")
    .option('--controller-url <url>', "the controller's URL")
    .option('--region <label>', 'data region label', 'eu')
    .option('--contract-start <date>', 'YYYY-MM-DD (default today)')
    .option('--contract-end <date>', 'YYYY-MM-DD')
    .action(async (options) => {
      const controller = options.controllerName
        ? {
            name: options.controllerName,
            email: options.controllerEmail,
            url: options.controllerUrl,
          }
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

  withConnection(tenants.command('list').description('List tenants')).action(async (options) => {
    const page = await callApi<{ items: Tenant[] }>(
      connection(options),
      'GET',
      '/v1/tenants?limit=500',
    );
    print(options, page.items, () =>
      table(page.items, ['id', 'name', 'role', 'region', 'contractStart', 'contractEnd']),
    );
  });
}
