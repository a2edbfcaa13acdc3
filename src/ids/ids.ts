import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulidx';

/**
 * Ids are a type prefix and a ULID: readable in logs, sortable by creation time,
 * and unguessable enough that they are not a secret's only protection.
 */
const prefixes = {
  tenant: 'ten',
  apiKey: 'key',
  httpRequest: 'rid',
  rightsRequest: 'req',
  requestReceipt: 'rrc',
  webhookMessage: 'msg',
  mail: 'mail',
  registerVersion: 'rv',
  auditEvent: 'evt',
  auditCheckpoint: 'ckp',
  subject: 'sub',
  record: 'rec',
  subjectMerge: 'mrg',
  decision: 'dec',
  consentEvent: 'cev',
  visitor: 'vis',
  receipt: 'rcp',
  legalHold: 'hold',
  retentionRun: 'ret',
} as const;

export type IdKind = keyof typeof prefixes;

// ulidx asks its generator for one number per character; drawing the random
// bytes from the system in blocks keeps an id from costing 16 calls into it.
const pool = Buffer.alloc(4096);
let drawn = pool.length;
function poolRandom(): number {
  if (drawn >= pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  // 256 is a multiple of the 32 characters: every character stays equally likely.
  return (pool[drawn++] as number) / 256;
}

const ulid = monotonicFactory(poolRandom);

export function newId(kind: IdKind): string {
  return `${prefixes[kind]}_${ulid().toLowerCase()}`;
}

export function idPattern(kind: IdKind): RegExp {
  return new RegExp(`^${prefixes[kind]}_[0-9a-hjkmnp-tv-z]{26}$`);
}
