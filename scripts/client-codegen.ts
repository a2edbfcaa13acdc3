import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { generateInstallationKeys } from '../src/crypto/installation-keys.js';
import { openDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createAvow } from '../src/server/app.js';
import { createLogger } from '../src/server/logger.js';

/**
 * How packages/client gets its types: the real app is built in process (as the
 * tests build it), its OpenAPI document taken without HTTP, and openapi-typescript
 * turns that into `schema.ts`. Both outputs are committed; a test regenerates them
 * in memory and fails when they are stale.
 */
export const clientFiles = {
  openapi: new URL('../packages/client/openapi.json', import.meta.url),
  schema: new URL('../packages/client/src/schema.ts', import.meta.url),
};

/** The server URL written into the document; a client passes its own baseUrl. */
const documentServerUrl = 'http://127.0.0.1:8080';

export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const database = await openDatabase({ kind: 'pglite' });
  try {
    const migrated = await migrateToLatest(database.db);
    if (!migrated.ok) throw migrated.error;
    const generated = generateInstallationKeys();
    const { app } = await createAvow({
      database,
      keys: generated,
      logger: createLogger('silent'),
      publicUrl: documentServerUrl,
      worker: false,
    });
    try {
      return sortKeys(app.swagger()) as Record<string, unknown>;
    } finally {
      await app.close();
    }
  } finally {
    await database.close();
  }
}

/** Object keys sorted at every level, so the committed file changes only when the API does. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

type OpenApiTypescript = {
  default: (schema: object, options?: Record<string, unknown>) => Promise<unknown[]>;
  astToString: (nodes: unknown[]) => string;
  COMMENT_HEADER: string;
};

/**
 * openapi-typescript needs TypeScript 5's compiler API, which TypeScript 7 (the
 * repo's compiler) no longer ships; the client package owns both as its own
 * dev dependencies, so they are loaded from there.
 */
async function loadOpenApiTypescript(): Promise<OpenApiTypescript> {
  const require = createRequire(new URL('../packages/client/package.json', import.meta.url));
  const entry = require.resolve('openapi-typescript');
  const loaded = (await import(pathToFileURL(entry).href)) as OpenApiTypescript & {
    default: OpenApiTypescript | OpenApiTypescript['default'];
  };
  // The CommonJS build arrives with its exports under `default`.
  return typeof loaded.default === 'function' ? loaded : (loaded.default as OpenApiTypescript);
}

export async function renderClientFiles(): Promise<{ openapi: string; schema: string }> {
  const document = await buildOpenApiDocument();
  const openapiTS = await loadOpenApiTypescript();
  const nodes = await openapiTS.default(document, { silent: true, alphabetize: true });
  return {
    openapi: `${JSON.stringify(document, null, 2)}\n`,
    schema: `${openapiTS.COMMENT_HEADER.replace(
      ' */',
      ' * Regenerate with `npm run client:generate` (scripts/generate-client.ts).\n */',
    )}${openapiTS.astToString(nodes)}`,
  };
}
