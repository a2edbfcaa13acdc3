import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.js';
import * as m0003 from './0003_subject_keys.js';

/**
 * Every migration, in order. Listed here rather than read from the folder so the
 * same list runs from source, from a bundle and in tests. Names sort in order.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0003_subject_keys': m0003,
};
