import { writeFileSync } from 'node:fs';
import { registerJsonSchemaText } from './register-schema.js';

// `npm run register:schema`: regenerates the JSON Schema the repo ships; a test
// fails while the file and the zod schema disagree.
const file = new URL('../../schemas/register.schema.json', import.meta.url);
writeFileSync(file, registerJsonSchemaText());
process.stdout.write(`wrote ${file.pathname}\n`);
