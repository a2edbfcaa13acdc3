import type { Transport } from './transport.js';
import type { BodyOf, QueryOf, ReplyOf } from './types.js';

export type Tenant = ReplyOf<'/v1/tenants/{tenantId}', 'get'>;
export type TenantPage = ReplyOf<'/v1/tenants', 'get'>;
export type CreateTenantInput = BodyOf<'/v1/tenants', 'post'>;
export type UpdateTenantInput = BodyOf<'/v1/tenants/{tenantId}', 'patch'>;
export type ListTenantsQuery = QueryOf<'/v1/tenants', 'get'>;

/** Tenants: operators create, list and change them; a tenant's admin may read its own. */
export function tenantsApi({ raw, call }: Transport) {
  return {
    create: (body: CreateTenantInput): Promise<Tenant> => call(raw.POST('/v1/tenants', { body })),
    list: (query: ListTenantsQuery = {}): Promise<TenantPage> =>
      call(raw.GET('/v1/tenants', { params: { query } })),
    get: (tenantId: string): Promise<Tenant> =>
      call(raw.GET('/v1/tenants/{tenantId}', { params: { path: { tenantId } } })),
    update: (tenantId: string, body: UpdateTenantInput): Promise<Tenant> =>
      call(raw.PATCH('/v1/tenants/{tenantId}', { params: { path: { tenantId } }, body })),
  };
}
