import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/database.js';

const bin = path.resolve('bin/avow.js');

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export type CliResult = { code: number; stdout: string; stderr: string };

/** Runs `avow ARGS` as a user would, in its own process. */
export async function runAvow(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number];
  return { code, stdout, stderr };
}

export type RunningServer = {
  child: ChildProcess;
  url: string;
  output: () => string;
  stop: () => Promise<number>;
};

/** Starts `avow serve` and waits until it answers /ready. */
export async function startServer(env: Record<string, string | undefined>): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: { ...process.env, AVOW_PORT: String(port), AVOW_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`avow serve exited with ${child.exitCode}:\n${output}`);
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number];
      return code;
    },
  };
}

/**
 * Settings for a server process on this test's own database: a fresh data folder,
 * and on PostgreSQL a fresh schema with keys from the environment.
 */
export async function serverDatabase(
  dataDir: string,
): Promise<{ env: Record<string, string | undefined>; drop: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url)
    return { env: { AVOW_DATA_DIR: dataDir, DATABASE_URL: undefined }, drop: async () => {} };
  const schema = `cli_${randomBytes(5).toString('hex')}`;
  const admin = await openDatabase({ kind: 'postgres', url, poolSize: 1 });
  await sql`create schema ${sql.id(schema)}`.execute(admin.db);
  const scoped = new URL(url);
  scoped.searchParams.set('options', `-c search_path=${schema}`);
  const { generateKeyPairSync } = await import('node:crypto');
  const signing = generateKeyPairSync('ed25519')
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
  return {
    env: {
      AVOW_DATA_DIR: dataDir,
      DATABASE_URL: scoped.toString(),
      AVOW_MASTER_KEY: randomBytes(32).toString('base64'),
      AVOW_SIGNING_KEY: signing,
    },
    drop: async () => {
      await sql`drop schema ${sql.id(schema)} cascade`.execute(admin.db);
      // The job queue's schema beside it (src/jobs/jobs.ts jobsSchemaFor).
      await sql`drop schema if exists ${sql.id(`${schema}_jobs`)} cascade`.execute(admin.db);
      await admin.close();
    },
  };
}
