import type { FastifyRequest } from 'fastify';
import type { Principal } from '../access/api-keys-service.js';
import { findApiKey } from '../access/api-keys-store.js';
import { DecryptionError, type Keyring, newDataKey, open, seal } from '../crypto/keyring.js';
import type { SubjectKeys } from '../crypto/subject-keys.js';
import type { Db } from '../db/database.js';
import { AppError } from '../errors/errors.js';
import { newId } from '../ids/ids.js';
import {
  type ChainCheckpoint,
  type ChainEntry,
  type ChainHead,
  type CheckpointKind,
  canonicalJson,
  chainHash,
  checkpointBytes,
  createChainVerifier,
  GENESIS_HASH,
  headBytes,
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
  createHeadIfMissing,
  entryAt,
  findActorKey,
  findCheckpoint,
  findHead,
  insertActorKey,
  insertCheckpoint,
  listCheckpoints,
  lockHead,
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
  /** A signed checkpoint every this many entries of a chain. */
  checkpointEvery?: number;
  /** A successful login is recorded at most once per key per process in this many minutes. */
  loginRecordMinutes?: number;
  now?: () => Date;
};

const GENESIS = { seq: 0, hash: GENESIS_HASH };
const STRICT_TOKEN = /^avow_([0-9a-hjkmnp-tv-z]{26})_([A-Za-z0-9_-]{43})$/;
const TOKEN_PREFIX = /^avow_([0-9a-hjkmnp-tv-z]{26})(_|$)/;
const PAGE = 1000;

export function createAuditService(deps: AuditServiceDeps) {
  const { db, keyring, subjectKeys } = deps;
  const checkpointEvery = deps.checkpointEvery ?? 500;
  const loginRecordMs = (deps.loginRecordMinutes ?? 15) * 60_000;
  const now = deps.now ?? (() => new Date());
  const lastLoginRecorded = new Map<string, number>();

  const sealAad = (tenantId: string, entryId: string) => `avow/audit/${tenantId}/${entryId}`;
  const actorKeyContext = (tenantId: string, keyId: string) =>
    `avow/audit-actor-key/${tenantId}/${keyId}`;
  const signHead = (head: Omit<ChainHead, 'signature'>) => keyring.sign(headBytes(head));

  /**
   * The head this process last wrote on each chain (committed or not yet). The
   * next append guesses its predecessor from it, so it can wait for the head's
   * lock and write in the same statement. Only a guess: appendAtHead checks it
   * under the lock, and a wrong one (another process wrote, a transaction
   * rolled back) falls back to locking the head and reading it.
   */
  const lastHead = new Map<string, { seq: number; hash: string }>();
  const rememberHead = (tenantId: string, head: { seq: number; hash: string }) => {
    if (lastHead.size >= 10_000 && !lastHead.has(tenantId)) lastHead.clear();
    lastHead.set(tenantId, { seq: head.seq, hash: head.hash });
  };
  /** Per chain, settles when the latest append in this process has written (or failed). */
  const turns = new Map<string, Promise<void>>();
  /** Transactions that moved a head: they hold its lock until they end. */
  const holdsHead = new WeakSet<Db>();
  async function takeTurn(tx: Db, tenantId: string): Promise<() => void> {
    const previous = turns.get(tenantId);
    let done = () => {};
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    turns.set(tenantId, mine);
    // A transaction already holding the head must not wait for an append that
    // waits for it. The timeout is only a guard for a transaction we cannot
    // recognise: after it this append queues on the lock like any other.
    if (previous && !holdsHead.has(tx)) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        previous,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 1000);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    }
    return () => {
      done();
      if (turns.get(tenantId) === mine) turns.delete(tenantId);
    };
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
    const personal: Record<string, unknown> = { ...split.personal };
    if (input.ip) personal.ip = input.ip;
    if (input.userAgent) personal.userAgent = input.userAgent;
    let sealed: string | null = null;
    let sealedKey: string | null = null;
    if (Object.keys(personal).length > 0) {
      sealedKey = input.subjectId ?? `actor:${input.actor.id}`;
      const key = await sealingKey(tx, input.tenantId, sealedKey, true);
      // A subject already erased: their personal data is not written at all.
      if (key)
        sealed = seal(key, canonicalJson(personal), sealAad(input.tenantId, id)).toString('base64');
    }

    const tenantId = input.tenantId;
    const build = (prev: { seq: number; hash: string }): ChainEntry => {
      const body = {
        tenantId,
        seq: prev.seq + 1,
        id,
        // Taken after the predecessor was built, so `at` grows with seq (prune cuts by time).
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
        sealed,
        sealedKey,
      };
      const entry: ChainEntry = { ...body, prevHash: prev.hash, hash: chainHash(prev.hash, body) };
      rememberHead(tenantId, entry);
      return entry;
    };
    const write = (entry: ChainEntry) =>
      appendAtHead(tx, entry, signHead({ tenantId, seq: entry.seq, hash: entry.hash }));
    // One statement locks the head, checks it is where this process last left
    // it, and writes. Appends of one tenant in this process take turns until
    // their statement returns, so each builds on its predecessor's entry and
    // reaches the lock after it. A wrong guess (another process wrote, a
    // transaction rolled back) writes nothing and returns the real head, now
    // locked by this transaction: the second try cannot miss.
    const turn = await takeTurn(tx, tenantId);
    let entry: ChainEntry;
    try {
      let head = lastHead.get(tenantId) ?? (await findHead(tx, tenantId)) ?? GENESIS;
      for (let attempt = 0; ; attempt += 1) {
        entry = build(head);
        const result = await write(entry);
        if (result.written) break;
        if (attempt === 2) throw new Error('audit chain head moved while locked');
        if (result.head) {
          head = result.head;
        } else {
          await createHeadIfMissing(tx, {
            tenantId,
            seq: 0,
            hash: GENESIS_HASH,
            signature: signHead({ tenantId, seq: 0, hash: GENESIS_HASH }).toString('base64'),
          });
          head = GENESIS;
        }
      }
      holdsHead.add(tx);
    } finally {
      turn();
    }
    if (entry.seq % checkpointEvery === 0)
      await insertCheckpoint(tx, makeCheckpoint(entry.tenantId, entry.seq, entry.hash, 'interval'));
    return entry;
  }

  function makeCheckpoint(
    tenantId: string,
    seq: number,
    hash: string,
    kind: CheckpointKind,
  ): ChainCheckpoint {
    const unsigned = {
      tenantId,
      seq,
      id: newId('auditCheckpoint'),
      kind,
      hash,
      at: now().toISOString(),
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

  /** A signed checkpoint at the chain's current head; for the scheduler. Null for an empty chain. */
  async function checkpoint(tenantId: string): Promise<ChainCheckpoint | null> {
    return db.transaction().execute(async (tx) => {
      const head = await lockHead(tx, tenantId);
      if (!head || head.seq === 0) return null;
      const existing = await findCheckpoint(tx, tenantId, head.seq, 'on_demand');
      if (existing) return existing;
      const made = makeCheckpoint(tenantId, head.seq, head.hash, 'on_demand');
      await insertCheckpoint(tx, made);
      return made;
    });
  }

  /**
   * Reads the head first and everything up to it after, so appends made while
   * verifying do not look like a broken chain.
   */
  async function* chainUpToHead(
    tenantId: string,
    head: ChainHead | undefined,
  ): AsyncGenerator<ChainEntry> {
    let after = 0;
    for (;;) {
      const page = await chainPage(db, tenantId, after, PAGE);
      for (const entry of page) {
        if (head && entry.seq > head.seq) return;
        yield entry;
      }
      const last = page.at(-1);
      if (page.length < PAGE || !last) return;
      after = last.seq;
    }
  }

  async function verify(tenantId: string): Promise<VerifyResult> {
    const head = await findHead(db, tenantId);
    const checkpoints = (await listCheckpoints(db, tenantId)).filter(
      (c) => !head || c.seq <= head.seq,
    );
    const verifier = createChainVerifier({ tenantId, publicKey: keyring.publicKey, checkpoints });
    let entries = 0;
    for await (const entry of chainUpToHead(tenantId, head)) {
      verifier.entry(entry);
      entries += 1;
    }
    const result = verifier.finish(head ?? null);
    if (!head && entries > 0) {
      const problem = { seq: result.lastSeq ?? 1, reason: 'the signed chain head is missing' };
      return {
        ...result,
        ok: false,
        problems: [...result.problems, problem],
        firstBad: result.firstBad ?? problem,
      };
    }
    return result;
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
    const beforeSeq = decodeCursor(page.cursor);
    const entries = await searchEvents(db, tenantId, filter, { beforeSeq, limit: page.limit + 1 });
    const more = entries.length > page.limit;
    const items = await withPersonal(entries.slice(0, page.limit));
    const last = items.at(-1);
    return { items, nextCursor: more && last ? encodeCursor(last.seq) : null };
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
        seq: e.seq,
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
    let beforeSeq: number | undefined;
    for (;;) {
      const page = await searchEvents(db, tenantId, { subjectId }, { beforeSeq, limit: PAGE });
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
      beforeSeq = last.seq;
    }
    return out.reverse();
  }

  /**
   * The full chain as JSON Lines, verifiable offline: a header, the signed
   * checkpoints, every entry (with its opened personal data beside it, outside
   * what the hash covers), and the signed head last.
   */
  async function* exportJsonl(tenantId: string): AsyncGenerator<string> {
    const head = await findHead(db, tenantId);
    const checkpoints = (await listCheckpoints(db, tenantId)).filter(
      (c) => !head || c.seq <= head.seq,
    );
    yield `${JSON.stringify({ type: 'header', format: 'avow.audit.export', version: 1, tenantId, exportedAt: now().toISOString(), algorithm: 'sha256-chain/ed25519' })}\n`;
    for (const c of checkpoints) yield `${JSON.stringify({ type: 'checkpoint', ...c })}\n`;
    const openOne = opener(db);
    for await (const entry of chainUpToHead(tenantId, head)) {
      yield `${JSON.stringify({ type: 'entry', ...entry, personal: await openOne(entry) })}\n`;
    }
    if (head) yield `${JSON.stringify({ type: 'head', ...head })}\n`;
  }

  /** Entries matching a filter, oldest first, opened; for CSV. */
  async function* exportRows(
    tenantId: string,
    filter: AuditFilter,
  ): AsyncGenerator<AuditEntryView> {
    const openOne = opener(db);
    let beforeSeq: number | undefined;
    const pages: ChainEntry[][] = [];
    // Newest-first pages collected by seq, then emitted oldest first page by page.
    for (;;) {
      const page = await searchEvents(db, tenantId, filter, { beforeSeq, limit: PAGE });
      if (page.length > 0) pages.push(page.map((e) => ({ ...e })));
      const last = page.at(-1);
      if (page.length < PAGE || !last) break;
      beforeSeq = last.seq;
    }
    for (const page of pages.reverse()) {
      for (const entry of page.reverse()) yield { ...entry, personal: await openOne(entry) };
    }
  }

  /**
   * Removes entries older than the retention while the chain stays verifiable:
   * a signed `prune` checkpoint at the last removed entry anchors the new start,
   * and the prune itself is the next entry of the chain.
   */
  async function prune(
    tenantId: string,
    olderThan: Date | string,
  ): Promise<{ removed: number; throughSeq: number | null; cutoff: string }> {
    const cutoff = typeof olderThan === 'string' ? subtractDuration(now(), olderThan) : olderThan;
    return db.transaction().execute(async (tx) => {
      const head = await lockHead(tx, tenantId);
      if (!head || head.seq === 0)
        return { removed: 0, throughSeq: null, cutoff: cutoff.toISOString() };
      // Never remove an entry newer than the cutoff: stop before the first one.
      const firstKept = await tx
        .selectFrom('auditEvents')
        .select('seq')
        .where('tenantId', '=', tenantId)
        .where('at', '>=', cutoff)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      const through = firstKept ? Number(firstKept.seq) - 1 : head.seq;
      const last = through > 0 ? await entryAt(tx, tenantId, through) : undefined;
      if (!last) return { removed: 0, throughSeq: null, cutoff: cutoff.toISOString() };
      await insertCheckpoint(tx, makeCheckpoint(tenantId, through, last.hash, 'prune'));
      const removed = await pruneThrough(tx, tenantId, through);
      await append(tx, {
        tenantId,
        actor: { type: 'system', id: 'retention' },
        action: 'audit.pruned',
        outcome: 'success',
        payload: { before: cutoff.toISOString(), throughSequence: through, removed },
      });
      return { removed, throughSeq: through, cutoff: cutoff.toISOString() };
    });
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

export function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const seq = /^s(\d{1,15})$/.exec(text)?.[1];
  if (seq === undefined) {
    throw new AppError('validation_failed', 'The cursor is not one this API returned', {
      details: [
        { path: 'querystring.cursor', message: 'pass nextCursor from the previous page unchanged' },
      ],
    });
  }
  return Number(seq);
}

const DURATION =
  /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** `now` minus an ISO 8601 duration (P2Y, P6M, P30D, PT12H), in calendar terms (UTC). */
export function subtractDuration(from: Date, duration: string): Date {
  const m = DURATION.exec(duration);
  if (!m || duration === 'P' || duration.endsWith('T')) {
    throw new AppError('validation_failed', 'The retention is not an ISO 8601 duration', {
      details: [{ path: 'olderThan', message: 'use a duration such as P2Y, P6M, P30D or PT12H' }],
    });
  }
  const [y, mo, w, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const out = new Date(from.getTime());
  out.setUTCFullYear(
    out.getUTCFullYear() - y,
    out.getUTCMonth() - mo,
    out.getUTCDate() - w * 7 - d,
  );
  out.setUTCHours(out.getUTCHours() - h, out.getUTCMinutes() - mi, out.getUTCSeconds() - s);
  return out;
}
