import type { KeyObject } from 'node:crypto';
import { sha256 } from '../crypto/hashing.js';
import { verifySignature } from '../crypto/keyring.js';

/**
 * The hash chain, in one place, shared by the server's verifier and the
 * offline one: it needs no database and no server, only entries, checkpoints,
 * the signed head and the installation's public key.
 *
 *   hash(n) = SHA-256( hash(n-1) || canonical(entry n) )      hash(0) = 32 zero bytes
 *
 * canonical() is JSON with sorted keys and no insignificant whitespace over
 * every stored field except the hashes themselves. Sealed personal data enters
 * as its ciphertext, so destroying the key that opens it changes nothing here.
 */
export const CHAIN_VERSION = 1;
export const GENESIS_HASH = Buffer.alloc(32).toString('hex');

/** One entry as stored and exported (hashes hex, sealed bytes base64). */
export type ChainEntry = {
  tenantId: string;
  seq: number;
  id: string;
  at: string;
  actorType: string;
  actorId: string;
  action: string;
  subjectId: string | null;
  categories: string[] | null;
  purpose: string | null;
  outcome: string;
  requestId: string | null;
  payload: Record<string, unknown>;
  sealed: string | null;
  sealedKey: string | null;
  prevHash: string;
  hash: string;
};

export type CheckpointKind = 'interval' | 'on_demand' | 'prune';

export type ChainCheckpoint = {
  tenantId: string;
  seq: number;
  id: string;
  kind: CheckpointKind;
  hash: string;
  at: string;
  signature: string;
};

/** The latest position of a tenant's chain, signed on every append. */
export type ChainHead = { tenantId: string; seq: number; hash: string; signature: string };

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new Error('non-finite number in an audit entry');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
}

export function entryBytes(entry: Omit<ChainEntry, 'prevHash' | 'hash'>): Buffer {
  return Buffer.from(
    canonicalJson({
      v: CHAIN_VERSION,
      tenantId: entry.tenantId,
      seq: entry.seq,
      id: entry.id,
      at: entry.at,
      actorType: entry.actorType,
      actorId: entry.actorId,
      action: entry.action,
      subjectId: entry.subjectId,
      categories: entry.categories,
      purpose: entry.purpose,
      outcome: entry.outcome,
      requestId: entry.requestId,
      payload: entry.payload,
      sealed: entry.sealed,
      sealedKey: entry.sealedKey,
    }),
    'utf8',
  );
}

export function chainHash(prevHash: string, entry: Omit<ChainEntry, 'prevHash' | 'hash'>): string {
  return sha256(Buffer.concat([Buffer.from(prevHash, 'hex'), entryBytes(entry)])).toString('hex');
}

export function checkpointBytes(c: Omit<ChainCheckpoint, 'signature'>): Buffer {
  return Buffer.from(
    canonicalJson({
      v: CHAIN_VERSION,
      type: 'avow.audit.checkpoint',
      tenantId: c.tenantId,
      seq: c.seq,
      id: c.id,
      kind: c.kind,
      hash: c.hash,
      at: c.at,
    }),
    'utf8',
  );
}

export function headBytes(h: Omit<ChainHead, 'signature'>): Buffer {
  return Buffer.from(
    canonicalJson({
      v: CHAIN_VERSION,
      type: 'avow.audit.head',
      tenantId: h.tenantId,
      seq: h.seq,
      hash: h.hash,
    }),
    'utf8',
  );
}

export type ChainProblem = {
  /** The sequence number where the chain first goes wrong. */
  seq: number;
  entryId?: string;
  checkpointId?: string;
  reason: string;
};

export type VerifyResult = {
  ok: boolean;
  tenantId: string;
  entries: number;
  checkpoints: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The first problem by sequence number, or null when the chain is intact. */
  firstBad: ChainProblem | null;
  problems: ChainProblem[];
};

const MAX_PROBLEMS = 100;

/**
 * Checks a chain fed entry by entry in sequence order, so a chain of any length
 * verifies in constant memory. Each entry is checked on its own (its hash over
 * its own content) and against its predecessor, so after a break the verifier
 * goes on and still finds later problems.
 */
export function createChainVerifier(options: {
  tenantId: string;
  publicKey: KeyObject;
  checkpoints: ChainCheckpoint[];
}) {
  const { tenantId, publicKey } = options;
  const problems: ChainProblem[] = [];
  const report = (p: ChainProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const validCheckpoints = new Map<number, ChainCheckpoint[]>();
  for (const c of options.checkpoints) {
    if (
      c.tenantId !== tenantId ||
      !verifySignature(checkpointBytes(c), Buffer.from(c.signature, 'base64'), publicKey)
    ) {
      report({
        seq: c.seq,
        checkpointId: c.id,
        reason: 'checkpoint signature does not verify (forged or altered checkpoint)',
      });
      continue;
    }
    const list = validCheckpoints.get(c.seq) ?? [];
    list.push(c);
    validCheckpoints.set(c.seq, list);
  }
  let count = 0;
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  let lastHash = GENESIS_HASH;
  let lastId: string | undefined;
  const hashAt = new Map<number, { hash: string; id: string }>();

  function entry(e: ChainEntry): void {
    count += 1;
    if (e.tenantId !== tenantId) {
      report({
        seq: e.seq,
        entryId: e.id,
        reason: `entry belongs to tenant ${e.tenantId}, not ${tenantId}`,
      });
    }
    if (firstSeq === null) {
      firstSeq = e.seq;
      if (e.seq === 1) {
        if (e.prevHash !== GENESIS_HASH)
          report({
            seq: e.seq,
            entryId: e.id,
            reason: 'the first entry does not start from the genesis hash',
          });
      } else {
        // A pruned chain starts after a signed prune checkpoint naming the hash it continues from.
        const anchor = (validCheckpoints.get(e.seq - 1) ?? []).find((c) => c.kind === 'prune');
        if (!anchor) {
          report({
            seq: e.seq - 1,
            entryId: e.id,
            reason: `entries before seq ${e.seq} are missing and no signed prune checkpoint anchors seq ${e.seq - 1}`,
          });
        } else if (anchor.hash !== e.prevHash) {
          report({
            seq: e.seq,
            entryId: e.id,
            reason: 'the first entry does not continue from the signed prune checkpoint',
          });
        }
      }
    } else if (lastSeq !== null && e.seq !== lastSeq + 1) {
      if (e.seq <= lastSeq) {
        report({
          seq: e.seq,
          entryId: e.id,
          reason: `entry out of order: seq ${e.seq} after seq ${lastSeq}`,
        });
      } else {
        report({
          seq: lastSeq + 1,
          entryId: e.id,
          reason: `entries ${lastSeq + 1}..${e.seq - 1} are missing (deleted); next present is seq ${e.seq}`,
        });
      }
    } else if (e.prevHash !== lastHash) {
      report({
        seq: e.seq,
        entryId: e.id,
        reason: `entry does not link to the entry before it (${lastId ?? 'previous'})`,
      });
    }
    const recomputed = chainHash(e.prevHash, e);
    if (recomputed !== e.hash) {
      report({
        seq: e.seq,
        entryId: e.id,
        reason: 'entry content does not match its hash (altered)',
      });
    }
    if (validCheckpoints.has(e.seq)) hashAt.set(e.seq, { hash: e.hash, id: e.id });
    lastSeq = e.seq;
    lastHash = e.hash;
    lastId = e.id;
  }

  function finish(head: ChainHead | null): VerifyResult {
    for (const [seq, list] of validCheckpoints) {
      for (const c of list) {
        const at = hashAt.get(seq);
        if (at) {
          if (at.hash !== c.hash)
            report({
              seq,
              entryId: at.id,
              checkpointId: c.id,
              reason: 'entry differs from what the signed checkpoint recorded',
            });
        } else if (lastSeq === null || seq > lastSeq) {
          report({
            seq: (lastSeq ?? 0) + 1,
            checkpointId: c.id,
            reason: `entries after seq ${lastSeq ?? 0} are missing: a signed checkpoint covers seq ${seq}`,
          });
        } else if (!(c.kind === 'prune' && firstSeq !== null && seq === firstSeq - 1)) {
          // Checkpoints older than the start are the pruned ones' and are gone with them.
          if (firstSeq === null || seq >= firstSeq)
            report({
              seq,
              checkpointId: c.id,
              reason: 'checkpoint names an entry that is not in the chain',
            });
        }
      }
    }
    if (head) {
      if (
        head.tenantId !== tenantId ||
        !verifySignature(headBytes(head), Buffer.from(head.signature, 'base64'), publicKey)
      ) {
        // The end of the log can no longer be trusted: a cut tail hides behind a rewound head.
        report({
          seq: (lastSeq ?? 0) + 1,
          reason: `the signed chain head (seq ${head.seq}) does not verify: the head was altered or rewound`,
        });
      } else if (lastSeq === null) {
        const anchor = (validCheckpoints.get(head.seq) ?? []).find(
          (c) => c.kind === 'prune' && c.hash === head.hash,
        );
        if (head.seq > 0 && !anchor)
          report({
            seq: 1,
            reason: `the signed head is at seq ${head.seq} but there are no entries`,
          });
      } else if (head.seq !== lastSeq || head.hash !== lastHash) {
        if (head.seq > lastSeq) {
          report({
            seq: lastSeq + 1,
            reason: `entries after seq ${lastSeq} are missing (tail cut): the signed head is at seq ${head.seq}`,
          });
        } else {
          report({
            seq: head.seq,
            reason: `the chain goes past the signed head (seq ${head.seq}) or differs from it`,
          });
        }
      }
    }
    const sorted = [...problems].sort((a, b) => a.seq - b.seq);
    return {
      ok: sorted.length === 0,
      tenantId,
      entries: count,
      checkpoints: options.checkpoints.length,
      firstSeq,
      lastSeq,
      firstBad: sorted[0] ?? null,
      problems: sorted,
    };
  }

  return { entry, finish };
}
