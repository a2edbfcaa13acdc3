import { type AuditContext, systemContext } from '../audit/audit-events.js';
import type { AuditService } from '../audit/audit-service.js';
import { sha256 } from '../crypto/hashing.js';
import type { Db } from '../db/database.js';
import { AppError, notFound } from '../errors/errors.js';
import { newId } from '../ids/ids.js';
import { diffRegisters, type RegisterDiff } from './diff.js';
import { type Register, registerSchema } from './register-schema.js';
import {
  findActivePointer,
  findActiveVersion,
  findVersion,
  insertVersion,
  listVersions,
  lockTenantRegister,
  nextVersionNumber,
  type RegisterVersion,
  type RegisterVersionSummary,
  setActive,
} from './register-store.js';
import { type RegisterProblem, validateRegister } from './validate.js';

export type ActiveRegister = { versionId: string; register: Register };

export type PublishOutcome = { version: RegisterVersion; created: boolean };

/** The problems as error details: safe to show, they quote only the register itself. */
export function problemsError(problems: RegisterProblem[]): AppError {
  return new AppError(
    'unprocessable',
    `The register has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was changed`,
    {
      details: problems.map((p) => ({
        path: p.path,
        message: p.message,
        line: p.line,
        column: p.column,
        file: p.file,
        ...(p.allowed ? { allowed: p.allowed } : {}),
      })),
    },
  );
}

/** What other capabilities hear after a new version is active (committed). */
export type RegisterActivated = {
  tenantId: string;
  versionId: string;
  register: Register;
  /** Against the version it replaced; absent for a tenant's first register. */
  diff?: RegisterDiff;
};

export function createRegisterService(deps: {
  db: Db;
  audit: Pick<AuditService, 'record'>;
  /** Called after the activation commits: caches to drop, consent to renew. */
  onActivated?: (event: RegisterActivated) => Promise<void> | void;
  now?: () => Date;
  cacheSize?: number;
}) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const cacheSize = deps.cacheSize ?? 1000;
  // Versions never change, so a parsed register is cached by version id for as
  // long as the process lives (bounded). Which version is active is read each
  // time: one primary-key lookup, and correct across processes.
  const parsed = new Map<string, Register>();

  function remember(version: Pick<RegisterVersion, 'id' | 'register'>): Register {
    const hit = parsed.get(version.id);
    if (hit) return hit;
    const register = registerSchema.parse(version.register);
    if (parsed.size >= cacheSize) {
      const oldest = parsed.keys().next().value;
      if (oldest !== undefined) parsed.delete(oldest);
    }
    parsed.set(version.id, register);
    return register;
  }

  /**
   * Validates the YAML and, when it is valid and differs from the active
   * version, stores it as a new version and makes it active, in one
   * transaction. Invalid: throws with every problem and changes nothing.
   */
  async function publish(
    tenantId: string,
    yaml: string,
    by: AuditContext = systemContext,
  ): Promise<PublishOutcome> {
    const result = validateRegister(yaml, 'register.yaml');
    if (!result.ok) throw problemsError(result.problems);
    const contentHash = sha256(yaml).toString('hex');
    const createdBy = by.actor.type === 'system' ? null : by.actor.id;
    const outcome = await db.transaction().execute(async (tx) => {
      await lockTenantRegister(tx, tenantId);
      const active = await findActiveVersion(tx, tenantId);
      if (active && active.contentHash === contentHash) {
        return { version: active, created: false, diff: undefined };
      }
      const version = await insertVersion(tx, {
        id: newId('registerVersion'),
        tenantId,
        number: await nextVersionNumber(tx, tenantId),
        contentHash,
        yaml,
        register: result.register,
        createdBy,
      });
      await setActive(tx, tenantId, version.id, createdBy, now());
      const diff = active ? diffRegisters(remember(active), result.register) : undefined;
      // The new version and the evidence of who activated it commit together.
      await deps.audit.record(tx, {
        ...by,
        tenantId,
        action: 'register.activated',
        outcome: 'success',
        payload: {
          version: version.id,
          ...(diff ? { material: diff.material, reasons: diff.reasons } : {}),
        },
      });
      return { version, created: true, diff };
    });
    if (outcome.created && deps.onActivated) {
      await deps.onActivated({
        tenantId,
        versionId: outcome.version.id,
        register: result.register,
        ...(outcome.diff ? { diff: outcome.diff } : {}),
      });
    }
    return { version: outcome.version, created: outcome.created };
  }

  /** The register in force for a tenant, for every domain that enforces it. */
  async function getActiveRegister(tenantId: string): Promise<ActiveRegister | undefined> {
    const pointer = await findActivePointer(db, tenantId);
    if (!pointer) return undefined;
    const cached = parsed.get(pointer.versionId);
    if (cached) return { versionId: pointer.versionId, register: cached };
    const version = await findVersion(db, tenantId, pointer.versionId);
    if (!version) return undefined;
    return { versionId: version.id, register: remember(version) };
  }

  async function active(tenantId: string): Promise<RegisterVersion> {
    const version = await findActiveVersion(db, tenantId);
    if (!version) throw notFound('Active register');
    return version;
  }

  async function version(tenantId: string, id: string): Promise<RegisterVersion> {
    const found = await findVersion(db, tenantId, id);
    if (!found) throw notFound('Register version');
    return found;
  }

  async function versions(
    tenantId: string,
    page: { after?: string; limit: number },
  ): Promise<RegisterVersionSummary[]> {
    return listVersions(db, tenantId, page);
  }

  /** From one version to another (default: the active one). */
  async function diff(
    tenantId: string,
    fromId: string,
    toId?: string,
  ): Promise<RegisterDiff & { from: string; to: string }> {
    const from = await version(tenantId, fromId);
    const to = toId ? await version(tenantId, toId) : await active(tenantId);
    return { from: from.id, to: to.id, ...diffRegisters(remember(from), remember(to)) };
  }

  async function activeParsed(
    tenantId: string,
  ): Promise<{ version: RegisterVersion; register: Register }> {
    const found = await active(tenantId);
    return { version: found, register: remember(found) };
  }

  return {
    publish,
    getActiveRegister,
    active,
    activeParsed,
    version,
    versions,
    diff,
    parse: remember,
  };
}

export type RegisterService = ReturnType<typeof createRegisterService>;
