import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { clientFiles, renderClientFiles } from '../../scripts/client-codegen.js';

type Document = { paths?: Record<string, unknown> };

/** Which routes differ, so the failure says what changed without a 3,000-line diff. */
function routeDrift(committedText: string, freshText: string): string {
  let committed: Document = {};
  try {
    committed = JSON.parse(committedText) as Document;
  } catch {
    return 'missing or not JSON';
  }
  const fresh = JSON.parse(freshText) as Document;
  const before = committed.paths ?? {};
  const after = fresh.paths ?? {};
  const added = Object.keys(after).filter((path) => !(path in before));
  const removed = Object.keys(before).filter((path) => !(path in after));
  const changed = Object.keys(after).filter(
    (path) => path in before && JSON.stringify(before[path]) !== JSON.stringify(after[path]),
  );
  const parts = [
    added.length ? `new: ${added.join(', ')}` : '',
    removed.length ? `gone: ${removed.join(', ')}` : '',
    changed.length ? `changed: ${changed.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'components or info changed';
}

// CI catches a route change that was not carried into the client's types.
describe('packages/client generated files', () => {
  it('match the current routes', async () => {
    const fresh = await renderClientFiles();
    const openapi = await readFile(clientFiles.openapi, 'utf8').catch(() => '');
    const schema = await readFile(clientFiles.schema, 'utf8').catch(() => '');
    const stale: string[] = [];
    if (openapi !== fresh.openapi) {
      stale.push(`packages/client/openapi.json (${routeDrift(openapi, fresh.openapi)})`);
    }
    if (schema !== fresh.schema) stale.push('packages/client/src/schema.ts');
    expect(stale, 'The client is stale: run npm run client:generate').toEqual([]);
    // Opening an in-memory PGlite alone can take many seconds on a busy machine.
  }, 120_000);
});
