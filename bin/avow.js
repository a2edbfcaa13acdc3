#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so a fresh clone needs no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
const code = await runCli(process.argv.slice(2));
if (code !== 0 || process.argv[2] !== 'serve') {
  // Commands other than `serve` are done: leave without waiting on idle sockets.
  process.exit(code);
}
