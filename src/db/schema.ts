import type { ColumnType, Generated } from 'kysely';

/**
 * Table types as Kysely sees them (camelCase; CamelCasePlugin maps to the
 * snake_case columns). Each domain adds its tables here beside its migration.
 */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string, string>;

export type TenantRow = {
  id: string;
  name: string;
  role: 'controller' | 'processor';
  controller: ColumnType<{ name: string; email?: string; url?: string } | null, string, string>;
  region: string;
  contractStart: ColumnType<string, string, string>;
  contractEnd: ColumnType<string | null, string | null | undefined, string | null>;
  createdAt: CreatedAt;
  updatedAt: Timestamp;
};

export type ApiKeyRow = {
  id: string;
  tenantId: string | null;
  name: string;
  prefix: string;
  secretHash: Buffer;
  scopes: string[];
  createdAt: CreatedAt;
  createdBy: string | null;
  revokedAt: Timestamp | null;
};

export type InstallationRow = {
  key: string;
  value: Json<unknown>;
  createdAt: Generated<Date>;
};

export type SubjectKeyRow = {
  tenantId: string;
  subjectId: string;
  wrappedKey: Buffer | null;
  masterKeyVersion: number | null;
  createdAt: CreatedAt;
  destroyedAt: Timestamp | null;
};

export type DatabaseSchema = {
  subjectKeys: SubjectKeyRow;
  tenants: TenantRow;
  apiKeys: ApiKeyRow;
  installation: InstallationRow;
};
