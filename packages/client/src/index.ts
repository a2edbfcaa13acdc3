import createClient from 'openapi-fetch';
import { createCall } from './errors.js';
import { keysApi, whoami } from './keys.js';
import type { paths } from './schema.js';
import { tenantsApi } from './tenants.js';
import type { Transport } from './transport.js';

export { AvowApiError, type AvowErrorDetail, type Call, type RawResult } from './errors.js';
export type { ApiKey, CreatedKey, CreateKeyInput, Whoami } from './keys.js';
export type { components, paths } from './schema.js';
export type {
  CreateTenantInput,
  ListTenantsQuery,
  Tenant,
  TenantPage,
  UpdateTenantInput,
} from './tenants.js';
export type { RawClient, Transport } from './transport.js';
export type { BodyOf, QueryOf, ReplyOf } from './types.js';

export type AvowClientOptions = {
  /** Where Avow listens, without /v1: `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key, `avow_<id>_<secret>`. */
  apiKey: string;
  /** For installation (operator) keys: the tenant the calls act on (the Avow-Tenant header). */
  tenant?: string;
  /** A fetch to use instead of the global one (tests, proxies, retries). */
  fetch?: (input: Request) => Promise<Response>;
};

/**
 * A typed client for Avow's REST API. Helpers (`tenants.create`, `keys.list`, ...)
 * return data and throw AvowApiError on any non-2xx reply. Every route, helper or
 * not, is reachable typed through `raw` (openapi-fetch: `{ data, error, response }`),
 * and `call(raw.GET(...))` gives its data or throws like the helpers do.
 */
export function createAvowClient(options: AvowClientOptions) {
  const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}` };
  if (options.tenant) headers['avow-tenant'] = options.tenant;
  const raw = createClient<paths>({
    baseUrl: options.baseUrl,
    headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const transport: Transport = { raw, call: createCall(options.baseUrl) };
  return {
    raw,
    call: transport.call,
    whoami: () => whoami(transport),
    tenants: tenantsApi(transport),
    keys: keysApi(transport),
    /** The same key acting on another tenant (installation keys). */
    withTenant: (tenant: string) => createAvowClient({ ...options, tenant }),
  };
}

export type AvowClient = ReturnType<typeof createAvowClient>;
