import type { FastifyRequest } from 'fastify';
import type { Principal } from '../access/api-keys-service.js';
import { findApiKey } from '../access/api-keys-store.js';
import { DecryptionError, type Keyring, newDataKey, open, seal } from '../crypto/keyring.js';
import type { SubjectKeys } from '../crypto/subject-keys.js';
import type { Db } from '../db/database.js';
import type { WriteWatch } from '../db/write-watch.js';
import { AppError } from '../errors/errors.js';
import { newId } from '../ids/ids.js';
import { durationAllowed, firstNotDue, parseDuration } from '../register/duration.js';
import { type LegalHold, listHolds, lockTenantRetention } from '../retention/retention-store.js';
import {
  AUDIT_LANES,
  type ChainCheckpoint,
  type ChainEntry,
  type ChainHead,
  type ChainProblem,
  type CheckpointKind,
  canonicalJson,
  chainHash,
  checkpointBytes,
  checkpointHeads,
  createChainVerifier,
  GENESIS_HASH,
  type HashedEntry,
  headBytes,
  type LaneHead,
  type LaneSpan,
  type VerifyResult,
} from './audit-chain.js';
import {
  type AuditContext,
  type AuditEventInput,
  auditBaseSchema,
  auditContextFrom,
  INSTALLATION_CHAIN,
  splitPayload,
} from './audit-events.js';

export { INSTALLATION_CHAIN } from './audit-events.js';

import {
  type AuditFilter,
  appendAtHead,
  chainPage,
  ensureLaneHeads,
  findActorKey,
  findEntryAt,
  findHeads,
  findLaneHead,
  insertActorKey,
  insertCheckpoint,
  type KeyCheck,
  laneStarts,
  latestCheckpoint,
  listCheckpoints,
  lockAllLanes,
  lockLane,
  pruneThrough,
  searchEvents,
} from './audit-store.js';

/** Personal data of an event, opened for a caller allowed to read the log. */
export type OpenedPersonal = {
  /** `sealed`: present and opened; `erased`: its key was destroyed; `none`: the event had none. */
  state: 'sealed' | 'erased' | 'none';
  ip?: string;
  userAgent?: string;
  [field: string]: unknown;
};

export type AuditEntryView = ChainEntry & { personal: OpenedPersonal };

export type AuditServiceDeps = {
  db: Db;
  keyring: Keyring;
  subjectKeys: SubjectKeys;
  /** A signed checkpoint (of every lane) each time a lane reaches a multiple of this many entries. */
  checkpointEvery?: number;
  /** A successful login is recorded at most once per key per process in this many minutes. */
  loginRecordMinutes?: number;
  /**
   * Committed writes per table (the database's). Sealing keys are kept in
   * memory between appends only while it is live, and dropped whenever a key
   * table is written (an erasure destroys a key, a rotation re-wraps them),
   * here or in another process. Without it every append reads its key.
   */
  writes?: WriteWatch;
  /**
   * How long a prune waits for verifications and exports of the log that are
   * still being read (a client that stops reading an export holds one open).
   * Past it the prune gives up, 503, and runs again on the next schedule.
   */
  pruneWaitMs?: number;
  now?: () => Date;
};

const STRICT_TOKEN = /^avow_([0-9a-hjkmnp-tv-z]{26})_([A-Za-z0-9_-]{43})$/;
const TOKEN_PREFIX = /^avow_([0-9a-hjkmnp-tv-z]{26})(_|$)/;
const PAGE = 1000;

export function createAuditService(deps: AuditServiceDeps) {
  const { db, keyring, subjectKeys } = deps;
  const checkpointEvery = deps.checkpointEvery ?? 500;
  const loginRecordMs = (deps.loginRecordMinutes ?? 15) * 60_000;
  const now = deps.now ?? (() => new Date());
  const pruneWaitMs = deps.pruneWaitMs ?? 60_000;
  const lastLoginRecorded = new Map<string, number>();

  const sealAad = (tenantId: string, entryId: string) => `avow/audit/${tenantId}/${entryId}`;
  const actorKeyContext = (tenantId: string, keyId: string) =>
    `avow/audit-actor-key/${tenantId}/${keyId}`;
  const signHead = (head: Omit<ChainHead, 'signature'>) => keyring.sign(headBytes(head));

  /**
   * Per tenant, the lane heads as this process last wrote or read them, and
   * the lane its next append tries first. Appends take the lanes in turn, so
   * the writers of one process land on different lanes and a lane is most
   * often free, at the head remembered here, when its turn comes again. Only
   * a guess: appendAtHead checks it under the lane's lock and a wrong one
   * (another process wrote, a transaction rolled back, the lane is busy)
   * costs one more statement on the head it really holds. `ready`: every
   * lane's head was seen committed, so they need not be created again.
   */
  const tenantLanes = new Map<
    string,
    { next: number; heads: Map<number, LaneHead>; ready: boolean }
  >();
  /** Per transaction, the lane it holds of each tenant, at its own last entry. */
  const heldLanes = new WeakMap<Db, Map<string, LaneHead>>();
  const hold = (tx: Db, tenantId: string, head: LaneHead) => {
    let held = heldLanes.get(tx);
    if (!held) {
      held = new Map();
      heldLanes.set(tx, held);
    }
    held.set(tenantId, head);
  };

  /**
   * Per tenant, readers of the whole log (verify, JSONL export) and prunes
   * exclude each other in this process. A reader takes checkpoints, heads and
   * entry pages in separate statements (an export streams for as long as its
   * client reads), and a prune committed between them would make an
   * untouched log look cut. Many readers at once; a waiting prune lets no new
   * reader start, then runs alone.
   */
  const logGates = new Map<string, { readers: number; writer: Promise<void> | null }>();
  const gateOf = (tenantId: string) => {
    let gate = logGates.get(tenantId);
    if (!gate) {
      gate = { readers: 0, writer: null };
      logGates.set(tenantId, gate);
    }
    return gate;
  };
  const readersDone = new Map<string, () => void>();
  async function readingLog(tenantId: string): Promise<() => void> {
    for (;;) {
      const gate = gateOf(tenantId);
      if (gate.writer === null) {
        gate.readers += 1;
        return () => {
          gate.readers -= 1;
          if (gate.readers > 0) return;
          if (gate.writer !== null) readersDone.get(tenantId)?.();
          else logGates.delete(tenantId);
        };
      }
      await gate.writer;
    }
  }
  async function pruningLog<T>(tenantId: string, work: () => Promise<T>): Promise<T> {
    let gate = gateOf(tenantId);
    while (gate.writer !== null) {
      await gate.writer;
      gate = gateOf(tenantId);
    }
    let finished = () => {};
    gate.writer = new Promise<void>((resolve) => {
      finished = resolve;
    });
    try {
      if (gate.readers > 0 && !(await readersFinish(tenantId))) {
        throw new AppError(
          'unavailable',
          `The audit log was not pruned: a verification or export of it was still being read after ${Math.round(pruneWaitMs / 1000)} s; nothing was removed, and the prune runs again on its next schedule`,
        );
      }
      return await work();
    } finally {
      readersDone.delete(tenantId);
      gate.writer = null;
      // Readers still going (the prune gave up) keep the gate: a later prune must wait for them too.
      if (gate.readers === 0) logGates.delete(tenantId);
      finished();
    }
  }
  /** Whether the tenant's readers finished within pruneWaitMs; new readers wait meanwhile. */
  async function readersFinish(tenantId: string): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      new Promise<boolean>((resolve) => readersDone.set(tenantId, () => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), pruneWaitMs);
      }),
    ]);
    clearTimeout(timer);
    return finished;
  }

  /** Creates the tenant's missing lane heads (signed genesis heads) and learns where all are. */
  async function openLanes(tx: Db, tenantId: string) {
    const genesis = Array.from({ length: AUDIT_LANES }, (_, lane) => {
      const head = { tenantId, lane, lanes: AUDIT_LANES, seq: 0, hash: GENESIS_HASH };
      return { ...head, signature: signHead(head).toString('base64') };
    });
    const found = await ensureLaneHeads(tx, genesis);
    const previous = tenantLanes.get(tenantId);
    const lanes = {
      next: previous?.next ?? Math.floor(Math.random() * AUDIT_LANES),
      heads: new Map(found.heads.map((h) => [h.lane, h])),
      // Heads this transaction just created are not there for others until it
      // commits (or ever, if it rolls back): look again on the next append.
      ready: found.created === 0,
    };
    if (tenantLanes.size >= 10_000 && !previous) tenantLanes.clear();
    tenantLanes.set(tenantId, lanes);
    return lanes;
  }

  /**
   * The key that seals an event's personal data: the subject's own key when the
   * event is about a subject (so erasing the subject erases it here), otherwise
   * a key for the actor (`actor:<id>`). `null` when that key was destroyed.
   */
  async function sealingKey(
    tx: Db,
    tenantId: string,
    keyId: string,
    create: boolean,
  ): Promise<Buffer | null> {
    if (tenantId === INSTALLATION_CHAIN) {
      const row = await findActorKey(tx, tenantId, keyId);
      if (row?.wrappedKey && row.masterKeyVersion !== null)
        return keyring.unwrap(
          row.wrappedKey,
          row.masterKeyVersion,
          actorKeyContext(tenantId, keyId),
        );
      if (row || !create) return null;
      const key = newDataKey();
      const { wrapped, masterVersion } = keyring.wrap(key, actorKeyContext(tenantId, keyId));
      if (
        await insertActorKey(tx, {
          tenantId,
          keyId,
          wrappedKey: wrapped,
          masterKeyVersion: masterVersion,
        })
      )
        return key;
      return sealingKey(tx, tenantId, keyId, false);
    }
    const state = await subjectKeys.get(tx, tenantId, keyId);
    if (state.state === 'live') return state.key;
    if (state.state === 'destroyed' || !create) return null;
    return subjectKeys.getOrCreate(tx, tenantId, keyId);
  }

  /**
   * Sealing keys this process read lately, with the wrapped form they were
   * stored in. Appends reuse them instead of reading the key again, and the
   * append statement itself checks the key is still stored so (not destroyed
   * by an erasure, not replaced) before it writes; when it is not, nothing is
   * written and the key is read again. So an event is never sealed under a key
   * that was already destroyed when it was written, as if the key were read in
   * the transaction, for one statement less.
   */
  const recentKeys = new Map<string, { key: Buffer; check: KeyCheck }>();
  let keyTablesVersion = -1;
  /** Whether recentKeys may be used; empties it when a key table has been written since. */
  function recentKeysUsable(): boolean {
    const writes = deps.writes;
    if (!writes?.live()) {
      recentKeys.clear();
      return false;
    }
    const version = writes.version('subject_keys') + writes.version('audit_actor_keys');
    if (version !== keyTablesVersion) {
      recentKeys.clear();
      keyTablesVersion = version;
    }
    return true;
  }

  /** The key to seal an event's personal data with; `check` when it comes from recentKeys. */
  async function keyForAppend(
    tx: Db,
    tenantId: string,
    keyId: string,
    reuse: boolean,
  ): Promise<{ key: Buffer; check: KeyCheck | null } | null> {
    const name = `${tenantId}\u0000${keyId}`;
    const usable = recentKeysUsable();
    const recent = reuse && usable ? recentKeys.get(name) : undefined;
    if (recent) return recent;
    recentKeys.delete(name);
    const remember = (key: Buffer, check: KeyCheck) => {
      if (usable) {
        if (recentKeys.size >= 10_000) recentKeys.clear();
        recentKeys.set(name, { key, check });
      }
      return { key, check: null };
    };
    if (tenantId === INSTALLATION_CHAIN) {
      const row = await findActorKey(tx, tenantId, keyId);
      if (row?.wrappedKey && row.masterKeyVersion !== null) {
        const key = keyring.unwrap(
          row.wrappedKey,
          row.masterKeyVersion,
          actorKeyContext(tenantId, keyId),
        );
        return remember(key, { table: 'audit_actor_keys', keyId, wrapped: row.wrappedKey });
      }
    } else {
      const state = await subjectKeys.get(tx, tenantId, keyId);
      if (state.state === 'live')
        return remember(state.key, { table: 'subject_keys', keyId, wrapped: state.wrapped });
      if (state.state === 'destroyed') return null;
    }
    const created = await sealingKey(tx, tenantId, keyId, true);
    return created && { key: created, check: null };
  }

  async function append(tx: Db, event: AuditEventInput): Promise<ChainEntry> {
    const parsed = auditBaseSchema.safeParse(event);
    if (!parsed.success) {
      // A caller's bug, not a client's: name the field, never the value.
      throw new Error(
        `invalid audit event: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const input = parsed.data;
    let split: ReturnType<typeof splitPayload>;
    try {
      split = splitPayload(input.action, input.payload);
    } catch (error) {
      throw new Error(`invalid ${input.action} audit payload`, { cause: error });
    }
    const id = newId('auditEvent');
    const tenantId = input.tenantId;
    const personal: Record<string, unknown> = { ...split.personal };
    if (input.ip) personal.ip = input.ip;
    if (input.userAgent) personal.userAgent = input.userAgent;
    const sealedKey =
      Object.keys(personal).length > 0 ? (input.subjectId ?? `actor:${input.actor.id}`) : null;
    const sealPersonal = async (reuse: boolean) => {
      const found = sealedKey ? await keyForAppend(tx, tenantId, sealedKey, reuse) : null;
      // A subject already erased: their personal data is not written at all.
      if (!found) return { sealed: null, check: null };
      return {
        sealed: seal(found.key, canonicalJson(personal), sealAad(tenantId, id)).toString('base64'),
        check: found.check,
      };
    };
    let sealing = await sealPersonal(true);

    const build = (prev: LaneHead): HashedEntry & { prevHash: string; hash: string } => {
      const body = {
        tenantId,
        lane: prev.lane,
        seq: prev.seq + 1,
        id,
        // Taken when the entry is built on its predecessor: along a lane `at` rarely goes back.
        at: now().toISOString(),
        actorType: input.actor.type,
        actorId: input.actor.id,
        action: input.action,
        subjectId: input.subjectId ?? null,
        categories: input.categories ?? null,
        purpose: input.purpose ?? null,
        outcome: input.outcome,
        requestId: input.requestId ?? null,
        payload: split.plain,
        sealed: sealing.sealed,
        sealedKey,
      };
      return { ...body, prevHash: prev.hash, hash: chainHash(prev.hash, body) };
    };

    let lanes = tenantLanes.get(tenantId);
    if (!lanes?.ready) lanes = await openLanes(tx, tenantId);
    // A transaction that holds a lane appends there again (its own last entry
    // is the head): it never waits for another lane while holding one.
    let head = heldLanes.get(tx)?.get(tenantId);
    if (!head) {
      const lane = lanes.next;
      lanes.next = (lane + 1) % AUDIT_LANES;
      head = lanes.heads.get(lane) ?? { lane, seq: 0, hash: GENESIS_HASH };
    }
    for (let attempt = 0; ; attempt += 1) {
      const entry = build(head);
      const result = await appendAtHead(
        tx,
        entry,
        {
          lanes: AUDIT_LANES,
          signature: signHead({
            tenantId,
            lane: entry.lane,
            lanes: AUDIT_LANES,
            seq: entry.seq,
            hash: entry.hash,
          }),
        },
        sealing.check,
      );
      if (result.written) {
        const moved = { lane: entry.lane, seq: entry.seq, hash: entry.hash };
        lanes.heads.set(entry.lane, moved);
        hold(tx, tenantId, moved);
        if (entry.seq % checkpointEvery === 0) {
          const heads = await findHeads(tx, tenantId);
          await insertCheckpoint(tx, makeCheckpoint(tenantId, heads, 'interval'));
        }
        return { ...entry, position: result.position };
      }
      if (attempt === 4) throw new Error('audit lane head moved while locked');
      // The key reused is no longer the one stored: read it (or its erasure) now.
      if (result.keyStale) sealing = await sealPersonal(false);
      if (result.head) {
        // This transaction now holds that lane: the next try builds on its real head.
        head = result.head;
      } else {
        // Every lane is held by other transactions, and this one holds none
        // of this tenant (a lane it holds is never refused to it), so waiting
        // cannot close a cycle: wait for the lane whose turn it was. No such
        // lane: its head was never committed (created by a transaction that
        // rolled back), so create it.
        const waited = await lockLane(tx, tenantId, head.lane);
        if (waited) head = waited;
        else {
          lanes = await openLanes(tx, tenantId);
          head = lanes.heads.get(head.lane) ?? head;
        }
      }
    }
  }

  function makeCheckpoint(
    tenantId: string,
    heads: LaneHead[],
    kind: CheckpointKind,
  ): ChainCheckpoint & { heads: LaneHead[] } {
    const unsigned = {
      tenantId,
      id: newId('auditCheckpoint'),
      kind,
      at: now().toISOString(),
      heads: heads.map((h) => ({ lane: h.lane, seq: h.seq, hash: h.hash })),
    };
    return { ...unsigned, signature: keyring.sign(checkpointBytes(unsigned)).toString('base64') };
  }

  /**
   * Appends one event to its tenant's chain inside the caller's transaction, so
   * the change and its audit entry commit or roll back together. Given a plain
   * Db (not a transaction) it opens one, because the head lock must be held
   * from reading the previous hash to writing the new one.
   */
  async function record(tx: Db, event: AuditEventInput): Promise<void> {
    if (tx.isTransaction) {
      await append(tx, event);
      return;
    }
    await tx.transaction().execute((inner) => append(inner, event));
  }

  /**
   * A signed checkpoint of every lane's head as committed; for the scheduler.
   * Null for an empty log; the last one when no lane has moved since.
   */
  async function checkpoint(tenantId: string): Promise<ChainCheckpoint | null> {
    // One statement: a consistent view of the committed heads, no lock needed.
    const heads = await findHeads(db, tenantId);
    if (heads.every((h) => h.seq === 0)) return null;
    const last = await latestCheckpoint(db, tenantId, 'on_demand');
    const key = (list: LaneHead[]) => list.map((h) => `${h.lane}:${h.seq}:${h.hash}`).join(',');
    if (last && key(checkpointHeads(last)) === key(heads)) return last;
    const made = makeCheckpoint(tenantId, heads, 'on_demand');
    await insertCheckpoint(db, made);
    return made;
  }

  /**
   * The log in position order as far as the signed heads read before it reach
   * (checkpoints are read before the heads), so appends made while verifying
   * or exporting do not look like a broken chain. An entry of a lane that had
   * no head then is left out only if the lane's head exists now (the lane was
   * created meanwhile); a head that is missing for good is the verifier's to
   * report, with the lane's entries.
   */
  async function* logUpToHeads(tenantId: string, heads: ChainHead[]): AsyncGenerator<ChainEntry> {
    const byLane = new Map(heads.map((h) => [h.lane, h]));
    // The lane count the heads sign: all those lanes' heads must be there.
    const lanesSigned = Math.max(0, ...heads.map((h) => h.lanes ?? 1));
    const createdSince = new Map<number, boolean>();
    let after = 0;
    for (;;) {
      const page = await chainPage(db, tenantId, after, PAGE);
      for (const entry of page) {
        const head = byLane.get(entry.lane);
        if (head && entry.seq > head.seq) continue;
        if (!head && entry.lane >= lanesSigned) {
          let created = createdSince.get(entry.lane);
          if (created === undefined) {
            created = (await findLaneHead(db, tenantId, entry.lane)) !== undefined;
            createdSince.set(entry.lane, created);
          }
          if (created) continue;
        }
        yield entry;
      }
      const last = page.at(-1);
      if (page.length < PAGE || !last) return;
      after = last.position;
    }
  }

  /** The verdict on the whole log, and where each lane it read starts and ends. */
  async function verifyLog(tenantId: string): Promise<{ result: VerifyResult; spans: LaneSpan[] }> {
    const checkpoints = await listCheckpoints(db, tenantId);
    const heads = await findHeads(db, tenantId);
    const verifier = createChainVerifier({ tenantId, publicKey: keyring.publicKey, checkpoints });
    for await (const entry of logUpToHeads(tenantId, heads)) verifier.entry(entry);
    const result = verifier.finish(heads);
    // A lane with no entries (pruned whole) is where its signed head is.
    const spans = verifier.laneSpans();
    for (const head of heads) {
      if (spans.some((span) => span.lane === head.lane)) continue;
      const at = { seq: head.seq, hash: head.hash };
      spans.push({ lane: head.lane, start: at, end: at });
    }
    return { result, spans };
  }

  async function verify(tenantId: string): Promise<VerifyResult> {
    const done = await readingLog(tenantId);
    try {
      return (await verifyLog(tenantId)).result;
    } finally {
      done();
    }
  }

  /** Opens the sealed part of entries, caching each key for one call. */
  function opener(tx: Db) {
    const keys = new Map<string, Promise<Buffer | null>>();
    return async (entry: ChainEntry): Promise<OpenedPersonal> => {
      if (entry.sealedKey === null) return { state: 'none' };
      if (entry.sealed === null) return { state: 'erased' };
      const keyId = entry.sealedKey;
      let key = keys.get(keyId);
      if (!key) {
        key = sealingKey(tx, entry.tenantId, keyId, false);
        keys.set(keyId, key);
      }
      const resolved = await key;
      if (!resolved) return { state: 'erased' };
      try {
        const opened = JSON.parse(
          open(
            resolved,
            Buffer.from(entry.sealed, 'base64'),
            sealAad(entry.tenantId, entry.id),
          ).toString('utf8'),
        ) as Record<string, unknown>;
        return { ...opened, state: 'sealed' };
      } catch (error) {
        if (error instanceof DecryptionError || error instanceof SyntaxError)
          return { state: 'erased' };
        throw error;
      }
    };
  }

  async function withPersonal(entries: ChainEntry[]): Promise<AuditEntryView[]> {
    const openOne = opener(db);
    const out: AuditEntryView[] = [];
    for (const entry of entries) out.push({ ...entry, personal: await openOne(entry) });
    return out;
  }

  async function search(
    tenantId: string,
    filter: AuditFilter,
    page: { cursor?: string | undefined; limit: number },
  ) {
    const beforePosition = decodeCursor(page.cursor);
    const entries = await searchEvents(db, tenantId, filter, {
      beforePosition,
      limit: page.limit + 1,
    });
    const more = entries.length > page.limit;
    const items = await withPersonal(entries.slice(0, page.limit));
    const last = items.at(-1);
    return { items, nextCursor: more && last ? encodeCursor(last.position) : null };
  }

  /** Login attempts, newest first, each with outcome, time, IP and user agent. */
  async function logins(
    tenantId: string,
    filter: { account?: string | undefined; outcome?: 'success' | 'failure' | undefined },
    page: { cursor?: string | undefined; limit: number },
  ) {
    const actions =
      filter.outcome === 'success'
        ? ['login.succeeded']
        : filter.outcome === 'failure'
          ? ['login.failed']
          : ['login.succeeded', 'login.failed'];
    const { items, nextCursor } = await search(
      tenantId,
      { actions, actorId: filter.account },
      page,
    );
    return {
      items: items.map((e) => ({
        id: e.id,
        position: e.position,
        at: e.at,
        account: e.actorId,
        accountType: e.actorType,
        outcome: e.action === 'login.succeeded' ? ('success' as const) : ('failure' as const),
        method: typeof e.payload.method === 'string' ? e.payload.method : null,
        keyPrefix: typeof e.payload.keyPrefix === 'string' ? e.payload.keyPrefix : null,
        reason: typeof e.payload.reason === 'string' ? e.payload.reason : null,
        ip: typeof e.personal.ip === 'string' ? e.personal.ip : null,
        userAgent: typeof e.personal.userAgent === 'string' ? e.personal.userAgent : null,
      })),
      nextCursor,
    };
  }

  /**
   * "Who accessed my data": for a subject's access export. Actor, time, action,
   * purpose and categories; not the actors' own IPs, which are theirs, not the
   * subject's.
   */
  async function accessHistory(tenantId: string, subjectId: string) {
    const out: {
      at: string;
      action: string;
      actor: { type: string; id: string };
      purpose: string | null;
      categories: string[] | null;
      outcome: string;
    }[] = [];
    let beforePosition: number | undefined;
    for (;;) {
      const page = await searchEvents(db, tenantId, { subjectId }, { beforePosition, limit: PAGE });
      for (const e of page)
        out.push({
          at: e.at,
          action: e.action,
          actor: { type: e.actorType, id: e.actorId },
          purpose: e.purpose,
          categories: e.categories,
          outcome: e.outcome,
        });
      const last = page.at(-1);
      if (page.length < PAGE || !last) break;
      beforePosition = last.position;
    }
    return out.reverse();
  }

  /**
   * The full log as JSON Lines, verifiable offline: a header, the signed
   * checkpoints, every entry in position order (with its opened personal data
   * beside it, outside what the hash covers), and the signed head of every
   * lane last.
   */
  async function* exportJsonl(tenantId: string): AsyncGenerator<string> {
    // Held until the last line is read, or the reader stops (return() runs finally).
    const done = await readingLog(tenantId);
    try {
      const checkpoints = await listCheckpoints(db, tenantId);
      const heads = await findHeads(db, tenantId);
      yield `${JSON.stringify({ type: 'header', format: 'avow.audit.export', version: 2, tenantId, exportedAt: now().toISOString(), algorithm: 'sha256-chain/ed25519', lanes: heads.length })}\n`;
      for (const c of checkpoints) yield `${JSON.stringify({ type: 'checkpoint', ...c })}\n`;
      const openOne = opener(db);
      for await (const entry of logUpToHeads(tenantId, heads)) {
        yield `${JSON.stringify({ type: 'entry', ...entry, personal: await openOne(entry) })}\n`;
      }
      for (const head of heads) yield `${JSON.stringify({ type: 'head', ...head })}\n`;
    } finally {
      done();
    }
  }

  /** Entries matching a filter, oldest first, opened; for CSV. */
  async function* exportRows(
    tenantId: string,
    filter: AuditFilter,
  ): AsyncGenerator<AuditEntryView> {
    const openOne = opener(db);
    let beforePosition: number | undefined;
    const pages: ChainEntry[][] = [];
    // Newest-first pages collected by position, then emitted oldest first page by page.
    for (;;) {
      const page = await searchEvents(db, tenantId, filter, { beforePosition, limit: PAGE });
      if (page.length > 0) pages.push(page.map((e) => ({ ...e })));
      const last = page.at(-1);
      if (page.length < PAGE || !last) break;
      beforePosition = last.position;
    }
    for (const page of pages.reverse()) {
      for (const entry of page.reverse()) yield { ...entry, personal: await openOne(entry) };
    }
  }

  /**
   * Removes entries older than the retention while every lane stays
   * verifiable: each lane is cut before its first entry at or after the
   * cutoff, a signed `prune` checkpoint names where every lane now starts (the
   * hash its first remaining entry continues from), and the prune itself is
   * the next entry of the log. The lanes are held meanwhile, so no append
   * lands between reading the cut and making it.
   *
   * The checkpoint vouches for what it names, so the log is verified first
   * (without holding the lanes: appends go on meanwhile), and under the lock
   * every anchor must be an entry that verification read, still unchanged, or
   * a lane start it accepted. A log that does not verify is not pruned: the
   * refusal is recorded in the log, with the first problem, and the job fails,
   * so the evidence of tampering is not deleted with the old entries.
   *
   * While the tenant has any active legal hold nothing is removed: the log is
   * the evidence a hold preserves (Art. 17(3)(e)). A subject or category hold
   * holds all of it too: a lane loses only a prefix, never entries from its
   * middle, and not every entry that concerns a subject names it.
   */
  async function prune(tenantId: string, olderThan: Date | string): Promise<PruneResult> {
    // Cutoff first: a retention that is not a duration is refused at once.
    const cutoff = typeof olderThan === 'string' ? pruneCutoff(now(), olderThan) : olderThan;
    // Never between the statements of a verification or export of this log.
    return pruningLog(tenantId, () => pruneLog(tenantId, cutoff));
  }

  async function pruneLog(tenantId: string, cutoff: Date): Promise<PruneResult> {
    const nothing: PruneResult = { removed: 0, through: [], cutoff: cutoff.toISOString() };
    const { result, spans } = await verifyLog(tenantId);
    if (!result.ok) return refusePrune(tenantId, cutoff, result.firstBad);
    const verified = new Map(spans.map((span) => [span.lane, span]));
    const outcome = await db.transaction().execute(async (tx): Promise<PruneResult | Refusal> => {
      // Holds are placed and released under this lock, as erasure reads them:
      // none appears between the check and the commit. Taken before the
      // lanes, in the order every hold change takes both.
      await lockTenantRetention(tx, tenantId);
      const holds = await listHolds(tx, tenantId, { active: true });
      if (holds.length > 0) return holdPrune(tx, tenantId, cutoff, holds);
      const heads = await lockAllLanes(tx, tenantId);
      const [lane0] = heads;
      if (!lane0 || heads.every((h) => h.seq === 0)) return nothing;
      hold(tx, tenantId, lane0);
      const starts = new Map((await laneStarts(tx, tenantId, cutoff)).map((s) => [s.lane, s]));
      const anchors: LaneHead[] = [];
      const cut: { lane: number; seq: number }[] = [];
      for (const head of heads) {
        const start = starts.get(head.lane);
        if (!start?.first) {
          // No entries: unused, or pruned whole before; it stays where its head is.
          anchors.push(head);
          continue;
        }
        // Never remove an entry newer than the cutoff: stop before the first one.
        const end = start.firstKept
          ? { seq: start.firstKept.seq - 1, hash: start.firstKept.prevHash }
          : { seq: head.seq, hash: head.hash };
        if (end.seq >= start.first.seq) {
          anchors.push({ lane: head.lane, ...end });
          cut.push({ lane: head.lane, seq: end.seq });
        } else {
          anchors.push({ lane: head.lane, seq: start.first.seq - 1, hash: start.first.prevHash });
        }
      }
      if (cut.length === 0) return nothing;
      // Refused outside this transaction: the refusal is an append to lanes it holds.
      const unverified = await firstUnverifiedAnchor(tx, tenantId, anchors, verified);
      if (unverified) return { refused: unverified };
      const anchor = makeCheckpoint(tenantId, anchors, 'prune');
      await insertCheckpoint(tx, anchor);
      const through = Array.from({ length: Math.max(...heads.map((h) => h.lane)) + 1 }, () => 0);
      for (const a of anchors) through[a.lane] = a.seq;
      const removed = await pruneThrough(tx, tenantId, through, anchor.id);
      await append(tx, {
        tenantId,
        actor: { type: 'system', id: 'retention' },
        action: 'audit.pruned',
        outcome: 'success',
        payload: { before: cutoff.toISOString(), removed, checkpointId: anchor.id, through: cut },
      });
      return { removed, through: cut, cutoff: cutoff.toISOString() };
    });
    return 'refused' in outcome ? refusePrune(tenantId, cutoff, outcome.refused) : outcome;
  }

  /** Records that active legal holds kept the log whole: their ids, never their reasons (free text). */
  async function holdPrune(
    tx: Db,
    tenantId: string,
    cutoff: Date,
    holds: LegalHold[],
  ): Promise<PruneResult> {
    const heldBy = holds.map((h) => h.id);
    await append(tx, {
      tenantId,
      actor: { type: 'system', id: 'retention' },
      action: 'audit.prune_held',
      outcome: 'denied',
      payload: {
        before: cutoff.toISOString(),
        holds: heldBy.slice(0, 100),
        count: heldBy.length,
      },
    });
    return { removed: 0, through: [], cutoff: cutoff.toISOString(), heldBy };
  }

  /**
   * The first anchor a prune would sign that the verification before it does
   * not cover: each must be where a verified lane starts, or an entry of a
   * verified lane that is still there, unchanged. Appends made since add
   * entries after the verified end; a lane cut beyond it is not vouched for.
   */
  async function firstUnverifiedAnchor(
    tx: Db,
    tenantId: string,
    anchors: LaneHead[],
    verified: Map<number, LaneSpan>,
  ): Promise<ChainProblem | null> {
    for (const anchor of anchors) {
      const at = { lane: anchor.lane, seq: anchor.seq };
      if (anchor.seq === 0 && anchor.hash === GENESIS_HASH) continue;
      const span = verified.get(anchor.lane);
      if (span && span.start.seq === anchor.seq && span.start.hash === anchor.hash) continue;
      if (!span || anchor.seq < span.start.seq || anchor.seq > span.end.seq) {
        return {
          ...at,
          reason: `lane ${anchor.lane} seq ${anchor.seq} was not verified before the prune`,
        };
      }
      const entry = await findEntryAt(tx, tenantId, anchor.lane, anchor.seq);
      if (!entry || entry.hash !== anchor.hash || chainHash(entry.prevHash, entry) !== entry.hash) {
        return {
          ...at,
          ...(entry ? { entryId: entry.id, position: entry.position } : {}),
          reason: `lane ${anchor.lane} seq ${anchor.seq} changed after it was verified`,
        };
      }
    }
    return null;
  }

  /** Records that a prune was refused, and why, then stops it. */
  async function refusePrune(
    tenantId: string,
    cutoff: Date,
    problem: ChainProblem | null,
  ): Promise<never> {
    const reason = problem?.reason ?? 'the audit log does not verify';
    await record(db, {
      tenantId,
      actor: { type: 'system', id: 'retention' },
      action: 'audit.prune_refused',
      outcome: 'failure',
      payload: {
        before: cutoff.toISOString(),
        reason: reason.slice(0, 500),
        ...(problem?.lane === undefined ? {} : { lane: problem.lane }),
        ...(problem?.seq === undefined ? {} : { seq: problem.seq }),
      },
    });
    throw new AppError(
      'conflict',
      `The audit log of ${tenantId} does not verify (${reason}), so nothing was pruned: a prune checkpoint would vouch for it. See avow audit verify.`,
    );
  }

  /** The tenant whose chain an API-key login attempt belongs to. */
  async function chainOfKey(keyId: string): Promise<{ chain: string; exists: boolean }> {
    const key = await findApiKey(db, keyId);
    if (!key) return { chain: INSTALLATION_CHAIN, exists: false };
    return { chain: key.tenantId ?? INSTALLATION_CHAIN, exists: true };
  }

  /**
   * Every failed API-key authentication. The key's own tenant sees attempts on
   * its keys; a malformed token or an unknown key goes to the installation's
   * chain. Never the secret: only the visible `avow_<id>` prefix.
   */
  async function recordLoginFailure(request: FastifyRequest, token: string): Promise<void> {
    const context = auditContextFrom(request);
    const strict = STRICT_TOKEN.exec(token);
    const loose = TOKEN_PREFIX.exec(token);
    const idPart = strict?.[1] ?? loose?.[1];
    let tenantId = INSTALLATION_CHAIN;
    let reason: 'malformed_token' | 'unknown_key' | 'revoked_or_wrong_secret' = 'malformed_token';
    let actorId = 'unknown';
    if (idPart) {
      const found = await chainOfKey(`key_${idPart}`);
      tenantId = found.chain;
      if (strict) reason = found.exists ? 'revoked_or_wrong_secret' : 'unknown_key';
      // An unknown id is attacker-chosen: keep such attempts under one actor key.
      if (found.exists) actorId = `key_${idPart}`;
    }
    await record(db, {
      tenantId,
      actor: { type: 'api_key', id: actorId },
      action: 'login.failed',
      outcome: 'failure',
      ip: context.ip,
      userAgent: context.userAgent,
      requestId: context.requestId,
      payload: { method: 'api_key', reason, ...(idPart ? { keyPrefix: `avow_${idPart}` } : {}) },
    });
  }

  /** Whether this key's next success is to be recorded (none recorded in loginRecordMinutes). */
  function loginSuccessDue(principal: Principal): boolean {
    const last = lastLoginRecorded.get(principal.keyId);
    return last === undefined || Date.now() - last >= loginRecordMs;
  }

  /** A successful login, at most once per key per process in loginRecordMinutes. */
  async function recordLoginSuccess(request: FastifyRequest, principal: Principal): Promise<void> {
    const at = Date.now();
    const last = lastLoginRecorded.get(principal.keyId);
    if (last !== undefined && at - last < loginRecordMs) return;
    lastLoginRecorded.set(principal.keyId, at);
    const context = auditContextFrom(request);
    try {
      await record(db, {
        tenantId: principal.tenantId ?? INSTALLATION_CHAIN,
        // Called before the request carries its principal: the actor comes from it directly.
        actor: { type: principal.tenantId === null ? 'operator' : 'api_key', id: principal.keyId },
        action: 'login.succeeded',
        outcome: 'success',
        ip: context.ip,
        userAgent: context.userAgent,
        requestId: context.requestId,
        payload: { method: 'api_key', keyPrefix: `avow_${principal.keyId.slice('key_'.length)}` },
      });
    } catch (error) {
      lastLoginRecorded.delete(principal.keyId);
      throw error;
    }
  }

  return {
    record,
    checkpoint,
    verify,
    search,
    logins,
    accessHistory,
    exportJsonl,
    exportRows,
    prune,
    recordLoginFailure,
    recordLoginSuccess,
    loginSuccessDue,
    publicKeyPem: keyring.publicKeyPem,
    /** Shortcut for routes: the context of an authenticated request. */
    contextOf: (request: FastifyRequest): AuditContext => auditContextFrom(request),
  };
}

export type AuditService = ReturnType<typeof createAuditService>;

export type PruneResult = {
  removed: number;
  /** The last seq removed from each lane that lost entries. */
  through: { lane: number; seq: number }[];
  cutoff: string;
  /** The active legal holds that kept the whole log: nothing was removed. */
  heldBy?: string[];
};
type Refusal = { refused: ChainProblem };

export function encodeCursor(position: number): string {
  return Buffer.from(`p${position}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const position = /^p(\d{1,15})$/.exec(text)?.[1];
  if (position === undefined) {
    throw new AppError('validation_failed', 'The cursor is not one this API returned', {
      details: [
        { path: 'querystring.cursor', message: 'pass nextCursor from the previous page unchanged' },
      ],
    });
  }
  return Number(position);
}

/**
 * Where a prune with a retention (the register's `P2Y`, `P6M`, `P30D`) cuts
 * at `now`: an entry goes only when its time plus the retention is at or
 * before `now`, the same boundary as the vault's retention.
 */
export function pruneCutoff(now: Date, retention: string): Date {
  const duration = parseDuration(retention);
  if (!duration) {
    throw new AppError('validation_failed', 'The retention is not an ISO 8601 duration', {
      details: [{ path: 'olderThan', message: `use ${durationAllowed}` }],
    });
  }
  return firstNotDue(now, duration);
}
