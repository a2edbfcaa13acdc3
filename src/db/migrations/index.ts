import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.js';
import * as m0002 from './0002_register.js';
import * as m0003 from './0003_subject_keys.js';
import * as m0004 from './0004_audit.js';
import * as m0005 from './0005_vault.js';
import * as m0006 from './0006_consent.js';
import * as m0007 from './0007_requests.js';
import * as m0008 from './0008_retention.js';
import * as m0009 from './0009_retention_indexes.js';
import * as m0010 from './0010_audit_lanes.js';
import * as m0011 from './0011_write_notifications.js';
import * as m0012 from './0012_consent_expiry.js';
import * as m0013 from './0013_purpose_fulfilled.js';
import * as m0014 from './0014_consent_erasure.js';
import * as m0015 from './0015_subjects_merged_into.js';
import * as m0016 from './0016_consent_sealed.js';

/**
 * Every migration, in order. Listed here rather than read from the folder so the
 * same list runs from source, from a bundle and in tests. Names sort in order.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_register': m0002,
  '0003_subject_keys': m0003,
  '0004_audit': m0004,
  '0005_vault': m0005,
  '0006_consent': m0006,
  '0007_requests': m0007,
  '0008_retention': m0008,
  '0009_retention_indexes': m0009,
  '0010_audit_lanes': m0010,
  '0011_write_notifications': m0011,
  '0012_consent_expiry': m0012,
  '0013_purpose_fulfilled': m0013,
  '0014_consent_erasure': m0014,
  '0015_subjects_merged_into': m0015,
  '0016_consent_sealed': m0016,
};
