import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from '../db/database.js';
import { deriveKey, type Keyring } from './keyring.js';

/**
 * Blind indexes: an identity (e-mail, phone, account id, external id) is found
 * by HMAC-SHA-256 of its normalised form, never stored in clear. The HMAC key
 * is a random index key made once per installation and kept wrapped by the
 * master key in the `installation` table; it must never change (every index
 * would go stale), so rotating the master key re-wraps it rather than
 * replacing it. Each tenant gets its own key derived from it, so the same
 * e-mail in two tenants gives two unrelated indexes.
 */

export const identityKinds = ['email', 'phone', 'account_id', 'external'] as const;
export type IdentityKind = (typeof identityKinds)[number];

/** An identity as given; `type` names the external system for kind `external`. */
export type IdentityInput = { kind: IdentityKind; value: string; type?: string | undefined };
export type NormalisedIdentity = { kind: IdentityKind; value: string; type?: string };

export type NormaliseResult =
  | { ok: true; identity: NormalisedIdentity }
  | { ok: false; message: string };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Same person, same bytes: e-mail case and surrounding space, phone
 * punctuation, the 00 international prefix, and a national trunk 0 written
 * in brackets after the country code (`+44 (0)20 …`, `+358 (0)40 …`: the 0
 * is not dialled from abroad, so the number is `+4420…`). Phone numbers must
 * carry their country code (E.164), because a national number is ambiguous.
 */
export function normaliseIdentity(input: IdentityInput): NormaliseResult {
  const raw = input.value.normalize('NFKC').trim();
  switch (input.kind) {
    case 'email': {
      const value = raw.toLowerCase();
      if (!EMAIL.test(value) || value.length > 320)
        return { ok: false, message: 'must be an e-mail address' };
      return { ok: true, identity: { kind: 'email', value } };
    }
    case 'phone': {
      let value = raw.replace(/^((?:\+|00)\d{1,3})\s*\(0\)/, '$1').replace(/[\s().-]/g, '');
      if (value.startsWith('00')) value = `+${value.slice(2)}`;
      if (!/^\+[1-9]\d{6,14}$/.test(value)) {
        return {
          ok: false,
          message: 'must be a phone number in international form, e.g. +358 40 123 4567',
        };
      }
      return { ok: true, identity: { kind: 'phone', value } };
    }
    case 'account_id': {
      if (raw.length === 0 || raw.length > 500)
        return { ok: false, message: 'must be 1 to 500 characters' };
      return { ok: true, identity: { kind: 'account_id', value: raw } };
    }
    case 'external': {
      const type = (input.type ?? '').normalize('NFKC').trim().toLowerCase();
      if (!/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(type)) {
        return { ok: false, message: 'an external id needs a type: 1 to 64 of a-z, 0-9, _ . -' };
      }
      if (raw.length === 0 || raw.length > 500)
        return { ok: false, message: 'must be 1 to 500 characters' };
      return { ok: true, identity: { kind: 'external', type, value: raw } };
    }
  }
}

const INDEX_KEY_ROW = 'vault.blind_index_key';
const indexKeyContext = 'avow/installation/blind-index-key';

type StoredIndexKey = { wrapped: string; masterKeyVersion: number };

async function readStored(db: Db): Promise<StoredIndexKey | undefined> {
  const row = await db
    .selectFrom('installation')
    .select('value')
    .where('key', '=', INDEX_KEY_ROW)
    .executeTakeFirst();
  return row?.value as StoredIndexKey | undefined;
}

/** Loads the installation's index key, creating it on first use (race-safe). */
export async function loadIndexKey(db: Db, keyring: Keyring): Promise<Buffer> {
  let stored = await readStored(db);
  if (!stored) {
    const { wrapped, masterVersion } = keyring.wrap(randomBytes(32), indexKeyContext);
    const value: StoredIndexKey = {
      wrapped: wrapped.toString('base64'),
      masterKeyVersion: masterVersion,
    };
    await db
      .insertInto('installation')
      .values({ key: INDEX_KEY_ROW, value: JSON.stringify(value) })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    stored = await readStored(db);
    if (!stored) throw new Error('the blind index key could not be stored');
  }
  return keyring.unwrap(
    Buffer.from(stored.wrapped, 'base64'),
    stored.masterKeyVersion,
    indexKeyContext,
  );
}

/** Master key rotation: the same index key, wrapped under the current master key. */
export async function rewrapIndexKey(db: Db, keyring: Keyring): Promise<boolean> {
  const stored = await readStored(db);
  if (!stored || stored.masterKeyVersion === keyring.currentMasterVersion) return false;
  const key = keyring.unwrap(
    Buffer.from(stored.wrapped, 'base64'),
    stored.masterKeyVersion,
    indexKeyContext,
  );
  const { wrapped, masterVersion } = keyring.wrap(key, indexKeyContext);
  const value: StoredIndexKey = {
    wrapped: wrapped.toString('base64'),
    masterKeyVersion: masterVersion,
  };
  await db
    .updateTable('installation')
    .set({ value: JSON.stringify(value) })
    .where('key', '=', INDEX_KEY_ROW)
    .execute();
  return true;
}

export type BlindIndex = ReturnType<typeof createBlindIndex>;

export function createBlindIndex(deps: { db: Db; keyring: Keyring }) {
  let indexKey: Promise<Buffer> | undefined;
  const tenantKeys = new Map<string, Buffer>();

  async function tenantKey(tenantId: string): Promise<Buffer> {
    const cached = tenantKeys.get(tenantId);
    if (cached) return cached;
    indexKey ??= loadIndexKey(deps.db, deps.keyring).catch((error: unknown) => {
      indexKey = undefined;
      throw error;
    });
    const key = deriveKey(await indexKey, `avow/v1/blind-index/${tenantId}`);
    tenantKeys.set(tenantId, key);
    return key;
  }

  return {
    /** HMAC-SHA-256 over kind, external type and value, so an e-mail never collides with an account id. */
    async compute(tenantId: string, identity: NormalisedIdentity): Promise<Buffer> {
      const key = await tenantKey(tenantId);
      const label =
        identity.kind === 'external' ? `external:${identity.type ?? ''}` : identity.kind;
      return createHmac('sha256', key).update(label).update('\0').update(identity.value).digest();
    },
    /** A stable pseudonym for a subject: the same subject always gets the same one; it reveals nothing. */
    async pseudonym(tenantId: string, subjectId: string): Promise<string> {
      const key = await tenantKey(tenantId);
      const mac = createHmac('sha256', key).update('pseudonym\0').update(subjectId).digest();
      return `pse_${mac.subarray(0, 12).toString('hex')}`;
    },
  };
}
