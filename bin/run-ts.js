#!/usr/bin/env node
// Runs a TypeScript entry file (benchmarks, scripts) through tsx.
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
// The entry leaves argv, so the script sees its own arguments at process.argv[2].
const [entry] = process.argv.splice(2, 1);
if (!entry) {
  process.stderr.write('usage: run-ts.js FILE.ts\n');
  process.exit(2);
}
await import(pathToFileURL(entry).href);
