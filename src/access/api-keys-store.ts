import type { Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { ApiKeyRow } from '../db/schema.js';
import type { Scope } from './scopes.js';

export type ApiKey = {
  id: string;
  tenantId: string | null;
  name: string;
  prefix: string;
  scopes: Scope[];
  createdAt: Date;
  createdBy: string | null;
  revokedAt: Date | null;
};

export type ApiKeyWithHash = ApiKey & { secretHash: Buffer };

function toApiKey(row: Selectable<ApiKeyRow>): ApiKeyWithHash {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes as Scope[],
    createdAt: row.createdAt,
    createdBy: row.createdBy,
    revokedAt: row.revokedAt,
    secretHash: row.secretHash,
  };
}

export function withoutHash({ secretHash: _secretHash, ...key }: ApiKeyWithHash): ApiKey {
  return key;
}

export async function insertApiKey(
  db: Db,
  key: Omit<ApiKeyWithHash, 'createdAt' | 'revokedAt'>,
): Promise<ApiKeyWithHash> {
  const row = await db
    .insertInto('apiKeys')
    .values({ ...key, scopes: key.scopes })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toApiKey(row);
}

export async function findApiKey(db: Db, id: string): Promise<ApiKeyWithHash | undefined> {
  const row = await db.selectFrom('apiKeys').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toApiKey(row);
}

export async function listApiKeys(
  db: Db,
  filter: { tenantId: string | null; includeRevoked: boolean },
): Promise<ApiKey[]> {
  let query = db.selectFrom('apiKeys').selectAll().orderBy('id');
  query =
    filter.tenantId === null
      ? query.where('tenantId', 'is', null)
      : query.where('tenantId', '=', filter.tenantId);
  if (!filter.includeRevoked) query = query.where('revokedAt', 'is', null);
  const rows = await query.execute();
  return rows.map((row) => withoutHash(toApiKey(row)));
}

export async function revokeApiKey(db: Db, id: string, at: Date): Promise<ApiKey | undefined> {
  const row = await db
    .updateTable('apiKeys')
    .set({ revokedAt: at })
    .where('id', '=', id)
    .where('revokedAt', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return row && withoutHash(toApiKey(row));
}

export async function countApiKeys(db: Db): Promise<number> {
  const { count } = await db
    .selectFrom('apiKeys')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(count);
}
