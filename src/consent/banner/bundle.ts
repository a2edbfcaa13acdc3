import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Builds the banner from its TypeScript source with esbuild's JS API, once per
 * process on first use (no build step for users). The result is generic; the
 * tenant's categories are appended as a call with its configuration.
 */
let cached: Promise<string> | undefined;

export function bannerBundle(): Promise<string> {
  cached ??= build({
    entryPoints: [fileURLToPath(new URL('./banner.ts', import.meta.url))],
    bundle: true,
    minify: true,
    format: 'iife',
    globalName: 'avowBanner',
    target: ['es2019'],
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  }).then((result) => {
    const file = result.outputFiles[0];
    if (!file) throw new Error('esbuild produced no banner bundle');
    return file.text;
  });
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}

/** The per-tenant script: the bundle in its own scope, started with the tenant's configuration. */
export async function bannerScript(config: unknown): Promise<string> {
  // JSON inside a script: escape "<" so a cookie name cannot close the tag.
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  return `(function(){${await bannerBundle()}\navowBanner.start(${json});})();\n`;
}
