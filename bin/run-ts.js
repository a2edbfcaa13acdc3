#!/usr/bin/env node
// Runs a TypeScript entry file (benchmarks, scripts) through tsx.
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
const [entry] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: run-ts.js FILE.ts\n');
  process.exit(2);
}
await import(pathToFileURL(entry).href);
