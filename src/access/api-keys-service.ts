import { type AuditContext, INSTALLATION_CHAIN, systemContext } from '../audit/audit-events.js';
import type { AuditService } from '../audit/audit-service.js';
import { randomToken, safeEqual, sha256 } from '../crypto/hashing.js';
import type { Db } from '../db/database.js';
import { AppError, notFound } from '../errors/errors.js';
import { newId } from '../ids/ids.js';
import {
  type ApiKey,
  findApiKey,
  insertApiKey,
  listApiKeys,
  revokeApiKey,
  withoutHash,
} from './api-keys-store.js';
import { grants, type Scope } from './scopes.js';

/** Who is calling: resolved once per request from the Authorization header. */
export type Principal = {
  keyId: string;
  tenantId: string | null;
  scopes: Scope[];
};

export type CreatedApiKey = { key: ApiKey; token: string };

const TOKEN_PATTERN = /^avow_([0-9a-hjkmnp-tv-z]{26})_([A-Za-z0-9_-]{43})$/;
/** `avow_`, the 26-character id, `_`, the 43-character secret. */
const TOKEN_LENGTH = 5 + 26 + 1 + 43;

/**
 * Keys read `avow_<id>_<secret>`. The id part is the visible prefix; only the
 * SHA-256 of the secret is stored, and it is compared in constant time.
 */
export function createApiKeyService(deps: {
  db: Db;
  audit: Pick<AuditService, 'record'>;
  cacheSeconds: number;
  now?: () => Date;
}) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  // Every request authenticates; a short cache keeps that off the database.
  // A revocation made by this process takes effect at once, one made by another
  // process within cacheSeconds. A cached key keeps its secret (in this process's
  // memory only, for cacheSeconds), so a hit is a constant-time comparison
  // rather than a hash: the hash cost more than the rest of a trivial request.
  const cache = new Map<string, { principal: Principal; secret: Buffer; until: number }>();
  // Revocations made by this process so far. A key read from the database is
  // cached only if none was made while it was being read: otherwise a read
  // that began before a revocation could cache the key after the revocation
  // had cleared it, and the revoked key would pass here for cacheSeconds.
  let revocations = 0;

  async function create(
    input: {
      name: string;
      scopes: Scope[];
      tenantId: string | null;
      createdBy: string | null;
    },
    by: AuditContext = systemContext,
  ): Promise<CreatedApiKey> {
    if (input.tenantId !== null && input.scopes.includes('operator')) {
      throw new AppError('validation_failed', 'A tenant key cannot hold the operator scope', {
        details: [{ path: 'scopes', message: 'operator is only for installation keys' }],
      });
    }
    const id = newId('apiKey');
    const idPart = id.slice('key_'.length);
    const secret = randomToken(32);
    const key = await db.transaction().execute(async (tx) => {
      const inserted = await insertApiKey(tx, {
        id,
        tenantId: input.tenantId,
        name: input.name,
        prefix: `avow_${idPart}`,
        secretHash: sha256(secret),
        scopes: [...new Set(input.scopes)],
        createdBy: input.createdBy,
      });
      await deps.audit.record(tx, {
        ...by,
        tenantId: inserted.tenantId ?? INSTALLATION_CHAIN,
        action: 'key.created',
        outcome: 'success',
        payload: {
          keyId: inserted.id,
          name: inserted.name,
          scopes: inserted.scopes,
          keyTenantId: inserted.tenantId,
        },
      });
      return inserted;
    });
    return { key: withoutHash(key), token: `avow_${idPart}_${secret}` };
  }

  /**
   * The principal of a key this process checked within cacheSeconds, without
   * waiting: undefined when the key is not cached (or the secret differs), and
   * then `authenticate` decides.
   */
  function authenticateFromCache(token: string): Principal | undefined {
    // Cut by position rather than by TOKEN_PATTERN (this runs on every
    // request): only ids of keys that passed the pattern are cached, so a
    // cached id and an equal secret mean a well-formed token.
    if (token.length !== TOKEN_LENGTH || !token.startsWith('avow_') || token[31] !== '_') {
      return undefined;
    }
    const cached = cache.get(token.slice(5, 31));
    if (!cached || cached.until <= Date.now()) return undefined;
    return safeEqual(cached.secret, Buffer.from(token.slice(32), 'utf8'))
      ? cached.principal
      : undefined;
  }

  async function authenticate(token: string): Promise<Principal | undefined> {
    const match = TOKEN_PATTERN.exec(token);
    if (!match) return undefined;
    const [, idPart = '', secretText = ''] = match;
    const secret = Buffer.from(secretText, 'utf8');
    const cached = cache.get(idPart);
    if (cached && cached.until > Date.now()) {
      return safeEqual(cached.secret, secret) ? cached.principal : undefined;
    }
    const revocationsBefore = revocations;
    const key = await findApiKey(db, `key_${idPart}`);
    if (!key || key.revokedAt !== null || !safeEqual(key.secretHash, sha256(secret))) {
      cache.delete(idPart);
      return undefined;
    }
    const principal: Principal = { keyId: key.id, tenantId: key.tenantId, scopes: key.scopes };
    if (deps.cacheSeconds > 0 && revocations === revocationsBefore) {
      cache.set(idPart, { principal, secret, until: Date.now() + deps.cacheSeconds * 1000 });
    }
    return principal;
  }

  async function revoke(
    caller: Principal,
    id: string,
    by: AuditContext = systemContext,
  ): Promise<ApiKey> {
    const key = await findApiKey(db, id);
    if (!key || !canManage(caller, key.tenantId)) throw notFound('API key');
    if (key.revokedAt) throw new AppError('conflict', 'This API key is already revoked');
    const revoked = await db.transaction().execute(async (tx) => {
      const done = await revokeApiKey(tx, id, now());
      if (!done) throw new AppError('conflict', 'This API key is already revoked');
      await deps.audit.record(tx, {
        ...by,
        tenantId: done.tenantId ?? INSTALLATION_CHAIN,
        action: 'key.revoked',
        outcome: 'success',
        payload: { keyId: done.id, keyTenantId: done.tenantId },
      });
      return done;
    });
    revocations += 1;
    cache.delete(id.slice('key_'.length));
    return revoked;
  }

  async function list(tenantId: string | null, includeRevoked: boolean): Promise<ApiKey[]> {
    return listApiKeys(db, { tenantId, includeRevoked });
  }

  return { create, authenticate, authenticateFromCache, revoke, list };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;

/** Operators manage every key; a tenant's admin manages its own tenant's keys. */
export function canManage(caller: Principal, tenantId: string | null): boolean {
  if (grants(caller.scopes, 'operator') && caller.tenantId === null) return true;
  return tenantId !== null && caller.tenantId === tenantId && grants(caller.scopes, 'admin');
}
