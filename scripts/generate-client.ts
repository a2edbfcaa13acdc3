// Regenerates packages/client/openapi.json and packages/client/src/schema.ts
// from the app's routes: `npm run client:generate`.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { clientFiles, renderClientFiles } from './client-codegen.js';

const files = await renderClientFiles();
await writeFile(clientFiles.openapi, files.openapi);
await writeFile(clientFiles.schema, files.schema);
process.stdout.write(
  `wrote ${fileURLToPath(clientFiles.openapi)}\nwrote ${fileURLToPath(clientFiles.schema)}\n`,
);
