import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * Configuration is read once at start-up from the environment and, when
 * AVOW_CONFIG names one, a YAML or JSON file holding the same variable names.
 * The environment wins over the file. Bad configuration stops the process with
 * a message that names the variable and what it accepts.
 */

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** A whole number in a range, read from a string; a bad one is told the range. */
const wholeNumber = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number(message).int(message).min(min, message).max(max, message);
};

const envSchema = z.object({
  AVOW_PORT: wholeNumber(0, 65535).default(8080),
  AVOW_HOST: z.string().min(1).default('127.0.0.1'),
  AVOW_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  AVOW_DATABASE_POOL_SIZE: wholeNumber(1, 200).default(10),
  AVOW_MASTER_KEY: z.string().min(1).optional(),
  AVOW_MASTER_KEY_FILE: z.string().min(1).optional(),
  AVOW_MASTER_KEY_VERSION: wholeNumber(1, 1_000_000).default(1),
  AVOW_PREVIOUS_MASTER_KEYS: z
    .string()
    .regex(
      /^\s*\d+:[^,\s]+\s*(,\s*\d+:[^,\s]+\s*)*$/,
      'must be a comma-separated list of VERSION:KEY (base64 or hex), e.g. 1:AbC...=',
    )
    .optional(),
  AVOW_SIGNING_KEY: z.string().min(1).optional(),
  AVOW_SIGNING_KEY_FILE: z.string().min(1).optional(),
  AVOW_MIGRATE_ON_START: booleanString.default(true),
  AVOW_DEMO: booleanString.optional(),
  AVOW_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
  AVOW_PUBLIC_URL: z.url().optional(),
  AVOW_TRUST_PROXY: booleanString.default(false),
  AVOW_API_KEY_CACHE_SECONDS: wholeNumber(0, 3600).default(10),
  AVOW_WORKER: booleanString.default(true),
  AVOW_SMTP_URL: z
    .string()
    .regex(
      /^smtps?:\/\//,
      'must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587',
    )
    .optional(),
  AVOW_MAIL_FROM: z.string().min(3).default('Avow <privacy@localhost>'),
});

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  database:
    | { kind: 'pglite'; dataDir: string }
    | { kind: 'postgres'; url: string; poolSize: number };
  keys: {
    masterKey?: string;
    masterKeyFile?: string;
    /** The version of masterKey (rotation: the new key gets a higher version). */
    masterKeyVersion: number;
    /** Older master keys still needed to unwrap keys not yet re-wrapped, as VERSION:KEY,... */
    previousMasterKeys?: string;
    signingKey?: string;
    signingKeyFile?: string;
  };
  migrateOnStart: boolean;
  seedDemo: boolean;
  logLevel: z.infer<typeof envSchema>['AVOW_LOG_LEVEL'];
  publicUrl: string;
  trustProxy: boolean;
  apiKeyCacheSeconds: number;
  /** Whether `avow serve` also works background jobs. */
  worker: boolean;
  /** SMTP when AVOW_SMTP_URL is set; otherwise an outbox folder in the data folder. */
  mail: { kind: 'smtp'; url: string; from: string } | { kind: 'outbox'; dir: string; from: string };
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Environment = Record<string, string | undefined>;

function readConfigFile(file: string): Environment {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError([`AVOW_CONFIG: cannot read the file ${file}`]);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError([`AVOW_CONFIG: ${file} is not valid YAML or JSON (${String(error)})`]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`AVOW_CONFIG: ${file} must hold a mapping of variable names to values`]);
  }
  const out: Environment = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in envSchema.shape)) {
      throw new ConfigError([
        `AVOW_CONFIG: ${file} sets ${key}, which is not a setting; allowed: ${Object.keys(envSchema.shape).join(', ')}`,
      ]);
    }
    out[key] = value === null || value === undefined ? undefined : String(value);
  }
  return out;
}

export function loadConfig(environment: Environment = process.env): Config {
  const fromFile = environment.AVOW_CONFIG ? readConfigFile(environment.AVOW_CONFIG) : {};
  const merged: Environment = { ...fromFile };
  for (const key of Object.keys(envSchema.shape)) {
    const value = environment[key];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  const result = envSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
    );
  }
  const env = result.data;
  const dataDir = path.resolve(env.AVOW_DATA_DIR);
  const database: Config['database'] = env.DATABASE_URL
    ? { kind: 'postgres', url: env.DATABASE_URL, poolSize: env.AVOW_DATABASE_POOL_SIZE }
    : { kind: 'pglite', dataDir: path.join(dataDir, 'pglite') };

  const problems: string[] = [];
  if (env.AVOW_MASTER_KEY && env.AVOW_MASTER_KEY_FILE) {
    problems.push('set either AVOW_MASTER_KEY or AVOW_MASTER_KEY_FILE, not both');
  }
  if (env.AVOW_SIGNING_KEY && env.AVOW_SIGNING_KEY_FILE) {
    problems.push('set either AVOW_SIGNING_KEY or AVOW_SIGNING_KEY_FILE, not both');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port: env.AVOW_PORT,
    host: env.AVOW_HOST,
    dataDir,
    database,
    keys: {
      masterKey: env.AVOW_MASTER_KEY,
      masterKeyFile: env.AVOW_MASTER_KEY_FILE,
      masterKeyVersion: env.AVOW_MASTER_KEY_VERSION,
      previousMasterKeys: env.AVOW_PREVIOUS_MASTER_KEYS,
      signingKey: env.AVOW_SIGNING_KEY,
      signingKeyFile: env.AVOW_SIGNING_KEY_FILE,
    },
    migrateOnStart: env.AVOW_MIGRATE_ON_START,
    // The demo tenant is for trying Avow on the embedded database; a server
    // install starts empty unless asked.
    seedDemo: env.AVOW_DEMO ?? database.kind === 'pglite',
    logLevel: env.AVOW_LOG_LEVEL,
    publicUrl:
      env.AVOW_PUBLIC_URL ??
      `http://${env.AVOW_HOST === '0.0.0.0' ? '127.0.0.1' : env.AVOW_HOST}:${env.AVOW_PORT}`,
    trustProxy: env.AVOW_TRUST_PROXY,
    apiKeyCacheSeconds: env.AVOW_API_KEY_CACHE_SECONDS,
    worker: env.AVOW_WORKER,
    mail: env.AVOW_SMTP_URL
      ? { kind: 'smtp', url: env.AVOW_SMTP_URL, from: env.AVOW_MAIL_FROM }
      : { kind: 'outbox', dir: path.join(dataDir, 'outbox'), from: env.AVOW_MAIL_FROM },
  };
}

/** The settings table the README documents, kept beside the schema that enforces it. */
export const configVariables = Object.keys(envSchema.shape);
