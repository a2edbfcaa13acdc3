import type { Transport } from './transport.js';
import type { BodyOf, ReplyOf } from './types.js';

export type ApiKey = ReplyOf<'/v1/keys/{keyId}', 'delete'>;
export type CreateKeyInput = BodyOf<'/v1/keys', 'post'>;
/** The new key and its secret `token`, which Avow shows only in this reply. */
export type CreatedKey = ReplyOf<'/v1/keys', 'post', 201>;
export type Whoami = ReplyOf<'/v1/whoami', 'get'>;

/** API keys of a tenant (admin), or of the installation (operators). */
export function keysApi({ raw, call }: Transport) {
  return {
    create: (body: CreateKeyInput): Promise<CreatedKey> => call(raw.POST('/v1/keys', { body })),
    list: (
      options: { tenantId?: string; includeRevoked?: boolean } = {},
    ): Promise<{ items: ApiKey[] }> =>
      call(
        raw.GET('/v1/keys', {
          params: {
            query: {
              ...(options.tenantId ? { tenantId: options.tenantId } : {}),
              ...(options.includeRevoked ? { includeRevoked: 'true' as const } : {}),
            },
          },
        }),
      ),
    revoke: (keyId: string): Promise<ApiKey> =>
      call(raw.DELETE('/v1/keys/{keyId}', { params: { path: { keyId } } })),
  };
}

/** The key making the call: its id, tenant and scopes. */
export function whoami({ raw, call }: Transport): Promise<Whoami> {
  return call(raw.GET('/v1/whoami'));
}
