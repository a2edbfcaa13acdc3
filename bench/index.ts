/**
 * `npm run bench [-- NAME...]`: runs every bench/*.bench.ts (or those whose
 * file name contains a NAME) and prints each number beside the baseline
 * measured in the same run. Exits 1 when a ratio misses its target.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './lib.js';

const filters = process.argv.slice(2);
const dir = path.resolve('bench');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((name) => f.includes(name)))
  .sort();

const format = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
let missed = 0;
process.stdout.write(
  `Avow benchmarks (${process.env.DATABASE_URL ? 'PostgreSQL at DATABASE_URL' : 'PGlite'}; ${files.length} files)\n\n`,
);
for (const file of files) {
  const module = (await import(pathToFileURL(path.join(dir, file)).href)) as {
    run: () => Promise<BenchResult[]>;
  };
  process.stdout.write(`${file}\n`);
  const results = await module.run();
  for (const r of results) {
    let line = `  ${r.name}: ${format(r.value)} ${r.unit}`;
    if (r.baseline) line += ` | baseline ${r.baseline.name}: ${format(r.baseline.value)} ${r.unit}`;
    if (r.ratio !== undefined) {
      const ok = r.target === undefined || r.ratio >= r.target;
      if (!ok) missed++;
      line += ` | ratio ${r.ratio.toFixed(2)}${r.target !== undefined ? ` (target >= ${r.target}) ${ok ? 'ok' : 'MISSED'}` : ''}`;
    }
    if (r.notes) line += ` | ${r.notes}`;
    process.stdout.write(`${line}\n`);
  }
  process.stdout.write('\n');
}
process.exit(missed > 0 ? 1 : 0);
