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

export type AuditEventRow = {
  tenantId: string;
  /** The hash chain (lane) of the tenant's log this entry is in; 0 for entries from before lanes. */
  lane: ColumnType<number, number | undefined, never>;
  /** Sequence number within the lane. */
  seq: number;
  /** The tenant's order across lanes (from a database sequence); not part of the hash. */
  position: ColumnType<number, never, never>;
  id: string;
  at: Timestamp;
  actorType: string;
  actorId: string;
  action: string;
  subjectId: string | null;
  categories: string[] | null;
  purpose: string | null;
  outcome: string;
  requestId: string | null;
  payload: Json<Record<string, unknown>>;
  sealed: Buffer | null;
  sealedKey: string | null;
  prevHash: Buffer;
  hash: Buffer;
};

export type AuditHeadRow = {
  tenantId: string;
  lane: number;
  /** The lane count signed with the head; null for a head signed before lanes (lane 0). */
  lanes: number | null;
  seq: number;
  hash: Buffer;
  signature: Buffer;
  updatedAt: Timestamp;
};

export type AuditCheckpointRow = {
  tenantId: string;
  /** seq and hash: a checkpoint from before lanes (lane 0); heads: every lane's head. */
  seq: number | null;
  kind: 'interval' | 'on_demand' | 'prune';
  id: string;
  hash: Buffer | null;
  heads: Json<{ lane: number; seq: number; hash: string }[] | null>;
  at: Timestamp;
  signature: Buffer;
};

export type AuditActorKeyRow = {
  tenantId: string;
  keyId: string;
  wrappedKey: Buffer | null;
  masterKeyVersion: number | null;
  createdAt: CreatedAt;
  destroyedAt: Timestamp | null;
};

export type SubjectRow = {
  tenantId: string;
  id: string;
  kind: string;
  status: Generated<'active' | 'merged' | 'pseudonymized' | 'erased'>;
  mergedInto: string | null;
  pseudonym: string | null;
  retainedCategories: string[] | null;
  restrictedAt: Timestamp | null;
  restrictionGround: string | null;
  lastActivityAt: Timestamp | null;
  relationshipStartedAt: Timestamp | null;
  relationshipEndedAt: Timestamp | null;
  contractEndedAt: Timestamp | null;
  roleEndedAt: Timestamp | null;
  accountDeletedAt: Timestamp | null;
  createdAt: CreatedAt;
  updatedAt: Timestamp;
  erasedAt: Timestamp | null;
};

export type SubjectIdentityRow = {
  tenantId: string;
  blindIndex: Buffer;
  subjectId: string;
  kind: string;
  sealed: Buffer;
  createdAt: CreatedAt;
};

export type VaultRecordRow = {
  tenantId: string;
  id: string;
  subjectId: string;
  category: string;
  source: string;
  purposes: string[];
  sealed: Buffer;
  version: Generated<number>;
  collectedAt: Timestamp;
  createdAt: CreatedAt;
  updatedAt: Timestamp;
};

export type VaultRecordHistoryRow = {
  tenantId: string;
  recordId: string;
  version: number;
  subjectId: string;
  source: string;
  sealed: Buffer;
  sealedReason: Buffer;
  changedBy: string;
  changedAt: Timestamp;
};

export type SubjectMergeRow = {
  tenantId: string;
  id: string;
  fromSubjectId: string;
  intoSubjectId: string;
  identitiesMoved: number;
  recordsMoved: number;
  mergedBy: string;
  mergedAt: Timestamp;
};

export type SubjectPurposeStateRow = {
  tenantId: string;
  subjectId: string;
  purpose: string;
  consent: 'given' | 'withdrawn' | 'refused' | 'expired' | null;
  consentAt: Timestamp | null;
  consentRegisterVersion: string | null;
  objectedAt: Timestamp | null;
  objectionSource: string | null;
  restrictedAt: Timestamp | null;
  restrictionGround: string | null;
  fulfilledAt: Timestamp | null;
  updatedAt: Timestamp;
};

export type RegisterVersionRow = {
  tenantId: string;
  id: string;
  number: number;
  contentHash: string;
  yaml: string;
  register: Json<unknown>;
  createdBy: string | null;
  createdAt: CreatedAt;
};

export type RegisterActiveRow = {
  tenantId: string;
  versionId: string;
  activatedBy: string | null;
  activatedAt: Timestamp;
};

export type ConsentVisitorRow = {
  tenantId: string;
  id: string;
  subjectId: string | null;
  linkedAt: Timestamp | null;
  createdAt: CreatedAt;
};

export type ConsentEventRow = {
  tenantId: string;
  id: string;
  holderId: string;
  purpose: string;
  medium: string;
  action: 'given' | 'withdrawn' | 'refused' | 'expired' | 'objected';
  channel: 'banner' | 'privacy_center' | 'form' | 'api' | 'unsubscribe_link' | 'gpc' | 'expiry';
  registerVersion: string | null;
  textHash: string | null;
  ipAnonymised: string | null;
  userAgent: string | null;
  /** The address and agent, sealed under the data key of `sealedFor` (migration 0016). */
  sealed: Buffer | null;
  sealedFor: string | null;
  receiptId: string;
  requestId: string | null;
  at: Timestamp;
};

export type ConsentStateRow = {
  tenantId: string;
  holderId: string;
  purpose: string;
  medium: string;
  consent: 'given' | 'withdrawn' | 'refused' | 'expired' | null;
  consentAt: Timestamp | null;
  objectedAt: Timestamp | null;
  channel: string;
  registerVersion: string | null;
  textHash: string | null;
  lastEventId: string;
  renewalRequiredAt: Timestamp | null;
  renewalRegisterVersion: string | null;
  updatedAt: Timestamp;
};

export type ConsentReceiptRow = {
  tenantId: string;
  id: string;
  holderId: string;
  receipt: string;
  signature: string;
  issuedAt: Timestamp;
};

export type RightsRequestRow = {
  tenantId: string;
  id: string;
  type: string;
  status: string;
  channel: string;
  verificationMethod: string | null;
  subjectId: string | null;
  identityIndex: Buffer;
  sealed: Buffer;
  details: Json<Record<string, unknown>>;
  registerVersion: string | null;
  deadline: string;
  receivedAt: Timestamp;
  verifiedAt: Timestamp | null;
  dueAt: Timestamp;
  pausedAt: Timestamp | null;
  pausedDays: Generated<number>;
  extension: string | null;
  extensionReason: string | null;
  extendedAt: Timestamp | null;
  completedAt: Timestamp | null;
  statusReason: string | null;
  outcome: Json<Record<string, unknown> | null>;
  receipt: Json<Record<string, unknown> | null>;
  remindedAt: Timestamp | null;
  forwardedAt: Timestamp | null;
  controllerAnswer: Json<Record<string, unknown> | null>;
  codeHash: Buffer | null;
  codeExpiresAt: Timestamp | null;
  codeAttempts: Generated<number>;
  createdAt: CreatedAt;
  updatedAt: Timestamp;
};

export type RightsRequestEventRow = {
  tenantId: string;
  requestId: string;
  seq: number;
  at: Timestamp;
  kind: string;
  fromStatus: string | null;
  toStatus: string | null;
  actor: string;
  message: string;
};

export type RightsRequestDownloadRow = {
  tenantId: string;
  tokenHash: Buffer;
  requestId: string;
  sealed: Buffer | null;
  bytes: number;
  expiresAt: Timestamp;
  downloadedAt: Timestamp | null;
  createdAt: CreatedAt;
};

export type ControllerRouteRow = {
  tenantId: string;
  webhookUrl: string | null;
  sealedSecret: Buffer | null;
  email: string | null;
  updatedAt: Timestamp;
};

export type LegalHoldRow = {
  tenantId: string;
  id: string;
  scope: 'tenant' | 'subject' | 'category';
  target: string | null;
  reason: string;
  createdBy: string;
  createdAt: CreatedAt;
  releasedAt: Timestamp | null;
  releasedBy: string | null;
  releaseReason: string | null;
};

export type RetentionRunRow = {
  tenantId: string;
  id: string;
  status: 'running' | 'completed' | 'failed';
  startedBy: string;
  asOf: Timestamp;
  registerVersion: string | null;
  startedAt: Timestamp;
  finishedAt: Timestamp | null;
  report: Json<unknown>;
};

export type RetentionAggregateRow = {
  tenantId: string;
  category: string;
  source: string;
  period: ColumnType<string, string, string>;
  records: ColumnType<number, number, number>;
};

export type DatabaseSchema = {
  legalHolds: LegalHoldRow;
  retentionRuns: RetentionRunRow;
  retentionAggregates: RetentionAggregateRow;
  rightsRequests: RightsRequestRow;
  rightsRequestEvents: RightsRequestEventRow;
  rightsRequestDownloads: RightsRequestDownloadRow;
  controllerRoutes: ControllerRouteRow;
  consentVisitors: ConsentVisitorRow;
  consentEvents: ConsentEventRow;
  consentState: ConsentStateRow;
  consentReceipts: ConsentReceiptRow;
  registerVersions: RegisterVersionRow;
  registerActive: RegisterActiveRow;
  subjectKeys: SubjectKeyRow;
  subjects: SubjectRow;
  subjectIdentities: SubjectIdentityRow;
  vaultRecords: VaultRecordRow;
  vaultRecordHistory: VaultRecordHistoryRow;
  subjectMerges: SubjectMergeRow;
  subjectPurposeState: SubjectPurposeStateRow;
  tenants: TenantRow;
  apiKeys: ApiKeyRow;
  installation: InstallationRow;
  auditEvents: AuditEventRow;
  auditHeads: AuditHeadRow;
  auditCheckpoints: AuditCheckpointRow;
  auditActorKeys: AuditActorKeyRow;
};
