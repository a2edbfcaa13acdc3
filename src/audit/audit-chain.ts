import type { KeyObject } from 'node:crypto';
import { sha256 } from '../crypto/hashing.js';
import { verifySignature } from '../crypto/keyring.js';

/**
 * The hash chains, in one place, shared by the server's verifier and the
 * offline one: it needs no database and no server, only entries, checkpoints,
 * the signed heads and the installation's public key.
 *
 * A tenant's log is AUDIT_LANES chains ("lanes") that concurrent transactions
 * append to side by side; lane 0 is the single chain of logs written before
 * lanes. Within a lane:
 *
 *   hash(n) = SHA-256( hash(n-1) || canonical(entry n) )      hash(0) = 32 zero bytes
 *
 * canonical() is JSON with sorted keys and no insignificant whitespace over
 * every stored field except the hashes and the position. The lane is part of
 * it except for lane 0, so entries written before lanes keep their hashes.
 * Sealed personal data enters as its ciphertext, so destroying the key that
 * opens it changes nothing here. Each lane's head is signed on every append
 * and checkpoints sign the heads of all lanes at once.
 */
export const CHAIN_VERSION = 1;
export const GENESIS_HASH = Buffer.alloc(32).toString('hex');
/** Lanes per tenant. It may grow in a later version, never shrink: heads sign the count. */
export const AUDIT_LANES = 16;

/** One entry as stored and exported (hashes hex, sealed bytes base64). */
export type ChainEntry = {
  tenantId: string;
  lane: number;
  /** Sequence number within the lane: the chain position. */
  seq: number;
  /** The tenant's order across lanes; rises along each lane, has gaps, is not hashed. */
  position: number;
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

/** What an entry's hash covers. */
export type HashedEntry = Omit<ChainEntry, 'position' | 'prevHash' | 'hash'>;

export type CheckpointKind = 'interval' | 'on_demand' | 'prune';

/** Where one lane stood: its last seq and that entry's hash (seq 0: the genesis hash). */
export type LaneHead = { lane: number; seq: number; hash: string };

/**
 * A checkpoint: the heads of every lane at once, or, for one made before
 * lanes, the single chain's seq and hash.
 */
export type UnsignedCheckpoint = {
  tenantId: string;
  id: string;
  kind: CheckpointKind;
  at: string;
} & ({ heads: LaneHead[] } | { seq: number; hash: string });

export type ChainCheckpoint = UnsignedCheckpoint & { signature: string };

export function checkpointHeads(c: UnsignedCheckpoint): LaneHead[] {
  return 'heads' in c ? c.heads : [{ lane: 0, seq: c.seq, hash: c.hash }];
}

/**
 * The latest position of one lane, signed on every append together with the
 * tenant's lane count (`lanes`), so a lane deleted whole is missed. `lanes`
 * is null for a head signed before lanes (lane 0 only).
 */
export type ChainHead = {
  tenantId: string;
  lane: number;
  lanes: number | null;
  seq: number;
  hash: string;
  signature: string;
};

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

export function entryBytes(entry: HashedEntry): Buffer {
  return Buffer.from(
    canonicalJson({
      v: CHAIN_VERSION,
      tenantId: entry.tenantId,
      // Left out for lane 0, so entries from before lanes keep their hashes;
      // present for every other lane, so an entry cannot change lane unseen.
      lane: entry.lane === 0 ? undefined : entry.lane,
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

export function chainHash(prevHash: string, entry: HashedEntry): string {
  return sha256(Buffer.concat([Buffer.from(prevHash, 'hex'), entryBytes(entry)])).toString('hex');
}

export function checkpointBytes(c: UnsignedCheckpoint): Buffer {
  const common = {
    v: CHAIN_VERSION,
    type: 'avow.audit.checkpoint',
    tenantId: c.tenantId,
    id: c.id,
    kind: c.kind,
    at: c.at,
  };
  return Buffer.from(
    canonicalJson(
      'heads' in c
        ? { ...common, heads: c.heads.map((h) => ({ lane: h.lane, seq: h.seq, hash: h.hash })) }
        : { ...common, seq: c.seq, hash: c.hash },
    ),
    'utf8',
  );
}

export function headBytes(h: Omit<ChainHead, 'signature'>): Buffer {
  return Buffer.from(
    canonicalJson({
      v: CHAIN_VERSION,
      type: 'avow.audit.head',
      tenantId: h.tenantId,
      // A head signed before lanes names neither (and can only be lane 0's).
      lane: h.lanes === null ? undefined : h.lane,
      lanes: h.lanes ?? undefined,
      seq: h.seq,
      hash: h.hash,
    }),
    'utf8',
  );
}

export type ChainProblem = {
  lane?: number;
  /** The sequence number in the lane where it goes wrong. */
  seq?: number;
  /** The position (log order) of the entry concerned, or of the next one present. */
  position?: number;
  entryId?: string;
  checkpointId?: string;
  reason: string;
};

export type VerifyResult = {
  ok: boolean;
  tenantId: string;
  entries: number;
  checkpoints: number;
  /** Lanes seen (with a head or entries). */
  lanes: number;
  firstPosition: number | null;
  lastPosition: number | null;
  /** The first problem in log order, or null when the log is intact. */
  firstBad: ChainProblem | null;
  problems: ChainProblem[];
};

const MAX_PROBLEMS = 100;

type LaneState = {
  firstSeq: number;
  /** The hash the lane's first entry present continues from (genesis, or a prune anchor). */
  firstPrevHash: string;
  lastSeq: number;
  lastHash: string;
  lastId: string;
  lastPosition: number;
};

/**
 * Checks a log fed entry by entry, each lane in sequence order (lanes may
 * interleave: the export and the server feed entries by position), so a log
 * of any length verifies in memory bounded by the lanes and checkpoints. Each
 * entry is checked on its own (its hash over its own content) and against its
 * predecessor in its lane, so after a break the verifier goes on and still
 * finds later problems. `finish` takes the signed head of every lane.
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
  const key = (lane: number, seq: number) => `${lane}:${seq}`;
  /** What valid checkpoints say the entry at lane:seq hashes to. */
  const expected = new Map<string, { hash: string; checkpointId: string }[]>();
  /** Signed prune checkpoints: a lane may start right after one of these. */
  const anchors = new Map<string, string[]>();
  let checkpointLanes = 0;
  for (const c of options.checkpoints) {
    if (
      c.tenantId !== tenantId ||
      !verifySignature(checkpointBytes(c), Buffer.from(c.signature, 'base64'), publicKey)
    ) {
      const [only] = 'heads' in c ? [] : checkpointHeads(c);
      report({
        ...(only ? { lane: only.lane, seq: only.seq } : {}),
        checkpointId: c.id,
        reason: 'checkpoint signature does not verify (forged or altered checkpoint)',
      });
      continue;
    }
    for (const h of checkpointHeads(c)) {
      checkpointLanes = Math.max(checkpointLanes, h.lane + 1);
      if (c.kind === 'prune') {
        const list = anchors.get(key(h.lane, h.seq)) ?? [];
        list.push(h.hash);
        anchors.set(key(h.lane, h.seq), list);
      }
      if (h.seq === 0) continue;
      const list = expected.get(key(h.lane, h.seq)) ?? [];
      list.push({ hash: h.hash, checkpointId: c.id });
      expected.set(key(h.lane, h.seq), list);
    }
  }
  const anchored = (lane: number, seq: number, hash: string) =>
    (anchors.get(key(lane, seq)) ?? []).includes(hash);

  const lanes = new Map<number, LaneState>();
  const hashAt = new Map<string, { hash: string; id: string }>();
  let count = 0;
  let firstPosition: number | null = null;
  let lastPosition: number | null = null;

  function entry(e: ChainEntry): void {
    count += 1;
    if (firstPosition === null || e.position < firstPosition) firstPosition = e.position;
    if (lastPosition === null || e.position > lastPosition) lastPosition = e.position;
    const at = { lane: e.lane, seq: e.seq, position: e.position, entryId: e.id };
    if (e.tenantId !== tenantId)
      report({ ...at, reason: `entry belongs to tenant ${e.tenantId}, not ${tenantId}` });
    const state = lanes.get(e.lane);
    if (!state) {
      if (e.seq === 1) {
        if (e.prevHash !== GENESIS_HASH)
          report({
            ...at,
            reason: 'the first entry of the lane does not start from the genesis hash',
          });
      } else if ((anchors.get(key(e.lane, e.seq - 1)) ?? []).length === 0) {
        report({
          ...at,
          seq: e.seq - 1,
          reason: `entries of lane ${e.lane} before seq ${e.seq} are missing and no signed prune checkpoint anchors seq ${e.seq - 1}`,
        });
      } else if (!anchored(e.lane, e.seq - 1, e.prevHash)) {
        report({
          ...at,
          reason: 'the first entry of the lane does not continue from the signed prune checkpoint',
        });
      }
    } else if (e.seq !== state.lastSeq + 1) {
      if (e.seq <= state.lastSeq) {
        report({
          ...at,
          reason: `entry out of order: lane ${e.lane} seq ${e.seq} comes after seq ${state.lastSeq}`,
        });
      } else {
        report({
          ...at,
          seq: state.lastSeq + 1,
          reason: `entries ${state.lastSeq + 1}..${e.seq - 1} of lane ${e.lane} are missing (deleted); next present is seq ${e.seq}`,
        });
      }
    } else if (e.prevHash !== state.lastHash) {
      report({ ...at, reason: `entry does not link to the entry before it (${state.lastId})` });
    } else if (e.position <= state.lastPosition) {
      report({
        ...at,
        reason: `position ${e.position} does not rise along lane ${e.lane} (after ${state.lastPosition}): the order was altered`,
      });
    }
    if (chainHash(e.prevHash, e) !== e.hash)
      report({ ...at, reason: 'entry content does not match its hash (altered)' });
    if (expected.has(key(e.lane, e.seq)))
      hashAt.set(key(e.lane, e.seq), { hash: e.hash, id: e.id });
    lanes.set(e.lane, {
      firstSeq: state?.firstSeq ?? e.seq,
      firstPrevHash: state?.firstPrevHash ?? e.prevHash,
      lastSeq: e.seq,
      lastHash: e.hash,
      lastId: e.id,
      lastPosition: e.position,
    });
  }

  function finish(heads: ChainHead[]): VerifyResult {
    const validHeads = new Map<number, ChainHead>();
    const seenHeads = new Set<number>();
    let headLanes = 0;
    for (const head of heads) {
      const state = lanes.get(head.lane);
      const next = (state?.lastSeq ?? 0) + 1;
      if (seenHeads.has(head.lane)) {
        report({ lane: head.lane, seq: next, reason: `lane ${head.lane} has more than one head` });
        continue;
      }
      seenHeads.add(head.lane);
      if (
        head.tenantId !== tenantId ||
        (head.lanes === null && head.lane !== 0) ||
        !verifySignature(headBytes(head), Buffer.from(head.signature, 'base64'), publicKey)
      ) {
        // The end of the lane can no longer be trusted: a cut tail hides behind a rewound head.
        report({
          lane: head.lane,
          seq: next,
          reason: `the signed head of lane ${head.lane} (seq ${head.seq}) does not verify: the head was altered or rewound`,
        });
        continue;
      }
      validHeads.set(head.lane, head);
      headLanes = Math.max(headLanes, head.lanes ?? 1);
    }

    for (const [k, list] of expected) {
      const [lane, seq] = k.split(':').map(Number) as [number, number];
      const state = lanes.get(lane);
      const found = hashAt.get(k);
      for (const c of list) {
        if (found) {
          if (found.hash !== c.hash)
            report({
              lane,
              seq,
              entryId: found.id,
              checkpointId: c.checkpointId,
              reason: 'entry differs from what the signed checkpoint recorded',
            });
        } else if (state && seq < state.firstSeq) {
          // Before the lane's start: pruned, anchored (or not) where the lane starts.
        } else if (state && seq <= state.lastSeq) {
          report({
            lane,
            seq,
            checkpointId: c.checkpointId,
            reason: 'checkpoint names an entry that is not in the chain',
          });
        } else {
          const head = validHeads.get(lane);
          // A lane pruned whole: its signed head sits on a prune anchor at or after seq.
          if (!state && head && seq <= head.seq && anchored(lane, head.seq, head.hash)) continue;
          const last = state?.lastSeq ?? 0;
          report({
            lane,
            seq: last + 1,
            checkpointId: c.checkpointId,
            reason: `entries of lane ${lane} after seq ${last} are missing: a signed checkpoint covers seq ${seq}`,
          });
        }
      }
    }

    for (const head of validHeads.values()) {
      const state = lanes.get(head.lane);
      if (!state) {
        if (head.seq > 0 && !anchored(head.lane, head.seq, head.hash))
          report({
            lane: head.lane,
            seq: 1,
            reason: `the signed head of lane ${head.lane} is at seq ${head.seq} but the lane has no entries`,
          });
      } else if (head.seq !== state.lastSeq || head.hash !== state.lastHash) {
        if (head.seq > state.lastSeq) {
          report({
            lane: head.lane,
            seq: state.lastSeq + 1,
            reason: `entries of lane ${head.lane} after seq ${state.lastSeq} are missing (tail cut): its signed head is at seq ${head.seq}`,
          });
        } else {
          report({
            lane: head.lane,
            seq: head.seq,
            reason: `lane ${head.lane} goes past its signed head (seq ${head.seq}) or differs from it`,
          });
        }
      }
    }
    // Every lane the signed heads and checkpoints count, and every lane with entries, needs its head.
    const laneCount = Math.max(headLanes, checkpointLanes, ...[...lanes.keys()].map((l) => l + 1));
    for (let lane = 0; lane < laneCount; lane += 1) {
      if (seenHeads.has(lane)) continue;
      const state = lanes.get(lane);
      if (!state && lane >= headLanes && lane >= checkpointLanes) continue;
      report({
        lane,
        seq: (state?.lastSeq ?? 0) + 1,
        reason: `the signed head of lane ${lane} is missing: the end of the lane cannot be checked`,
      });
    }

    const order = (p: ChainProblem) => p.position ?? Number.POSITIVE_INFINITY;
    const sorted = [...problems].sort(
      (a, b) =>
        order(a) - order(b) || (a.lane ?? -1) - (b.lane ?? -1) || (a.seq ?? 0) - (b.seq ?? 0),
    );
    return {
      ok: sorted.length === 0,
      tenantId,
      entries: count,
      checkpoints: options.checkpoints.length,
      lanes: new Set([...seenHeads, ...lanes.keys()]).size,
      firstPosition,
      lastPosition,
      firstBad: sorted[0] ?? null,
      problems: sorted,
    };
  }

  /**
   * Where each lane fed so far starts and ends: what a verified log vouches
   * for, so a prune can check that what it is about to sign was verified.
   */
  function laneSpans(): LaneSpan[] {
    return [...lanes].map(([lane, state]) => ({
      lane,
      start: { seq: state.firstSeq - 1, hash: state.firstPrevHash },
      end: { seq: state.lastSeq, hash: state.lastHash },
    }));
  }

  return { entry, finish, laneSpans };
}

/** A lane as a verifier read it: the anchor it starts from and its last entry. */
export type LaneSpan = {
  lane: number;
  start: { seq: number; hash: string };
  end: { seq: number; hash: string };
};
