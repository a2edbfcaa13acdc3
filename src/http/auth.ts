import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import type { ApiKeyService, Principal } from '../access/api-keys-service.js';
import { grants, type Scope } from '../access/scopes.js';
import type { AuditService } from '../audit/audit-service.js';
import type { Db } from '../db/database.js';
import { AppError, notFound } from '../errors/errors.js';
import { findTenant } from '../tenancy/tenants-store.js';
import type { App } from './app-types.js';

/**
 * Every /v1 route says who may call it: a scope, `authenticated` for any valid
 * key, or `public` for the privacy center and other pages people open.
 */
export type RouteAccess = Scope | 'authenticated' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export const TENANT_HEADER = 'avow-tenant';

export function installAuthentication(
  app: App,
  deps: {
    apiKeys: ApiKeyService;
    /** Login attempts go to the audit log: every failure, successes at most once per key per N minutes. */
    audit?: Pick<AuditService, 'recordLoginFailure' | 'recordLoginSuccess' | 'loginSuccessDue'>;
  },
): void {
  app.decorateRequest('principal', null);

  /** The principal may act on this route: no error, or the 403 that says which scope is missing. */
  function admit(request: FastifyRequest, principal: Principal, access: RouteAccess) {
    if (access !== 'authenticated' && access !== 'public' && !grants(principal.scopes, access)) {
      return new AppError('forbidden', `This API key lacks the ${access} scope this route needs`);
    }
    request.principal = principal;
    return undefined;
  }

  async function authenticate(request: FastifyRequest, token: string, access: RouteAccess) {
    const principal = await deps.apiKeys.authenticate(token);
    if (!principal) {
      await deps.audit?.recordLoginFailure(request, token);
      throw new AppError('unauthorized', 'The API key is not valid or has been revoked');
    }
    await deps.audit?.recordLoginSuccess(request, principal);
    const refused = admit(request, principal, access);
    if (refused) throw refused;
  }

  /**
   * The hook that admits callers to a route of the given access. It runs on
   * request, before the body is read: an unauthenticated caller learns nothing
   * about what a valid body would be. A key this process checked moments ago,
   * with no login to record, is admitted without waiting on anything; the rest
   * go to the database (and the audit log).
   */
  function authenticationFor(access: Exclude<RouteAccess, 'public'>): onRequestHookHandler {
    return (request, _reply, done) => {
      const header = request.headers.authorization;
      const token = header?.startsWith('Bearer ')
        ? header.slice('Bearer '.length).trim()
        : undefined;
      if (!token) {
        return done(
          new AppError('unauthorized', 'Send an API key as "Authorization: Bearer avow_..."'),
        );
      }
      const known = deps.apiKeys.authenticateFromCache(token);
      if (known && !deps.audit?.loginSuccessDue(known)) return done(admit(request, known, access));
      authenticate(request, token, access).then(() => done(), done);
    };
  }

  // Each route gets the hook of its own access level when it is added, so a
  // request does not look its route's configuration up. A /v1 route without a
  // declared access level is a bug: refuse to start.
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (route.url.startsWith('/v1/') && access === undefined) {
      throw new Error(
        `Route ${route.method} ${route.url} does not declare its access (config.access)`,
      );
    }
    if (access === undefined || access === 'public') return;
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [authenticationFor(access), ...own];
  });
}

/** The tenant the request names in the Avow-Tenant header, if any (not yet checked). */
export function namedTenant(request: FastifyRequest): string | null {
  const named = request.headers[TENANT_HEADER];
  return (Array.isArray(named) ? named[0] : named) || null;
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('principalOf called on a route without authentication');
  return request.principal;
}

/**
 * The tenant a request acts on. A tenant key acts on its own tenant; an
 * installation key names one in the Avow-Tenant header. A tenant that does not
 * exist, or is not the key's, is "not found" either way, so a key cannot learn
 * which other tenants exist.
 */
export async function tenantOf(request: FastifyRequest, db: Db): Promise<string> {
  const principal = principalOf(request);
  const header = namedTenant(request) ?? undefined;
  if (principal.tenantId !== null) {
    if (header !== undefined && header !== principal.tenantId) throw notFound('Tenant');
    return principal.tenantId;
  }
  if (!header) {
    throw new AppError(
      'bad_request',
      `This route acts on one tenant: send its id in the ${TENANT_HEADER} header`,
      {
        details: [{ path: `headers.${TENANT_HEADER}`, message: 'required for installation keys' }],
      },
    );
  }
  const tenant = await findTenant(db, header);
  if (!tenant) throw notFound('Tenant');
  return tenant.id;
}
