import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config.js';

/**
 * The installation's two secrets: a 256-bit master key that wraps every data
 * key, and an Ed25519 key that signs receipts and audit checkpoints. Embedded
 * mode creates them in the data folder on first start; on PostgreSQL they must
 * come from the environment, because a key beside a shared database is no key.
 */
export type InstallationKeys = {
  masterKey: Buffer;
  masterKeyVersion: number;
  /**
   * Older master keys, kept while data keys wrapped under them are re-wrapped
   * (`avow master-key rotate`); see docs/vault.md.
   */
  previousMasterKeys?: { version: number; key: Buffer }[];
  signingKey: KeyObject;
  publicKey: KeyObject;
  source: 'environment' | 'file' | 'generated';
  files?: { masterKey: string; signingKey: string };
};

export class KeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyConfigError';
  }
}

const MASTER_KEY_BYTES = 32;

export function parseMasterKey(text: string, from: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== MASTER_KEY_BYTES) {
    throw new KeyConfigError(
      `${from} must hold a 32-byte key as base64 (44 characters) or hex (64 characters); generate one with: openssl rand -base64 32`,
    );
  }
  return key;
}

export function parseSigningKey(text: string, from: string): KeyObject {
  const trimmed = text.trim();
  try {
    const key = trimmed.startsWith('-----BEGIN')
      ? createPrivateKey(trimmed)
      : createPrivateKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'pkcs8' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return key;
  } catch {
    throw new KeyConfigError(
      `${from} must hold an Ed25519 private key in PKCS#8 PEM (or its base64 DER); generate one with: openssl genpkey -algorithm ed25519`,
    );
  }
}

function readKeyFile(file: string, variable: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new KeyConfigError(`${variable}: cannot read ${file}`);
  }
}

/** A new master key (version 1) and signing key: first start, tests and benchmarks. */
export function generateInstallationKeys(): InstallationKeys {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    masterKey: randomBytes(MASTER_KEY_BYTES),
    masterKeyVersion: 1,
    signingKey: privateKey,
    publicKey: createPublicKey(privateKey),
    source: 'generated',
  };
}

/** Loads the keys the configuration names, or creates them in embedded mode. */
export function loadInstallationKeys(config: Config): InstallationKeys {
  const { keys } = config;
  const masterText =
    keys.masterKey ??
    (keys.masterKeyFile && readKeyFile(keys.masterKeyFile, 'AVOW_MASTER_KEY_FILE'));
  const signingText =
    keys.signingKey ??
    (keys.signingKeyFile && readKeyFile(keys.signingKeyFile, 'AVOW_SIGNING_KEY_FILE'));

  if (masterText && signingText) {
    const signingKey = parseSigningKey(
      signingText,
      keys.signingKey ? 'AVOW_SIGNING_KEY' : 'AVOW_SIGNING_KEY_FILE',
    );
    return {
      masterKey: parseMasterKey(
        masterText,
        keys.masterKey ? 'AVOW_MASTER_KEY' : 'AVOW_MASTER_KEY_FILE',
      ),
      masterKeyVersion: keys.masterKeyVersion ?? 1,
      previousMasterKeys: parsePreviousMasterKeys(
        keys.previousMasterKeys,
        keys.masterKeyVersion ?? 1,
      ),
      signingKey,
      publicKey: createPublicKey(signingKey),
      source: keys.masterKey ? 'environment' : 'file',
    };
  }

  if (config.database.kind === 'postgres') {
    const missing = [
      masterText ? undefined : 'AVOW_MASTER_KEY (or AVOW_MASTER_KEY_FILE)',
      signingText ? undefined : 'AVOW_SIGNING_KEY (or AVOW_SIGNING_KEY_FILE)',
    ].filter(Boolean);
    throw new KeyConfigError(
      `On PostgreSQL the installation keys come from the environment. Set ${missing.join(' and ')}. ` +
        'Generate them with: openssl rand -base64 32 (master key) and openssl genpkey -algorithm ed25519 (signing key).',
    );
  }
  if (masterText || signingText) {
    throw new KeyConfigError(
      'Set both the master key and the signing key, or neither (embedded mode then keeps its own in the data folder).',
    );
  }
  return loadOrCreateKeyFiles(path.join(config.dataDir, 'keys'));
}

function loadOrCreateKeyFiles(dir: string): InstallationKeys {
  const files = {
    masterKey: path.join(dir, 'master.key'),
    signingKey: path.join(dir, 'signing.pem'),
  };
  const haveMaster = existsSync(files.masterKey);
  const haveSigning = existsSync(files.signingKey);
  if (haveMaster !== haveSigning) {
    throw new KeyConfigError(
      `The data folder holds only one of ${files.masterKey} and ${files.signingKey}. Restore the missing file from your backup; a new key would not open existing data.`,
    );
  }
  if (!haveMaster) {
    const generated = generateInstallationKeys();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // 'wx' refuses to overwrite: two processes starting at once cannot replace each other's key.
    writeFileSync(files.masterKey, `${generated.masterKey.toString('base64')}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    writeFileSync(
      files.signingKey,
      generated.signingKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      { mode: 0o600, flag: 'wx' },
    );
    return { ...generated, files };
  }
  const signingKey = parseSigningKey(readFileSync(files.signingKey, 'utf8'), files.signingKey);
  const versions = readMasterKeyVersions(dir, files.masterKey);
  const current = versions.reduce((a, b) => (b.version > a.version ? b : a));
  return {
    masterKey: current.key,
    masterKeyVersion: current.version,
    previousMasterKeys: versions.filter((v) => v !== current),
    signingKey,
    publicKey: createPublicKey(signingKey),
    source: 'file',
    files,
  };
}

/** `1:KEY,2:KEY` from AVOW_PREVIOUS_MASTER_KEYS; a version may not repeat or reach the current one. */
export function parsePreviousMasterKeys(
  text: string | undefined,
  currentVersion: number,
): { version: number; key: Buffer }[] {
  if (!text) return [];
  const out: { version: number; key: Buffer }[] = [];
  for (const part of text.split(',')) {
    const [versionText, keyText] = part.trim().split(':', 2);
    const version = Number(versionText);
    if (!Number.isInteger(version) || version < 1 || !keyText) {
      throw new KeyConfigError(
        'AVOW_PREVIOUS_MASTER_KEYS must be VERSION:KEY pairs separated by commas',
      );
    }
    if (version >= currentVersion || out.some((o) => o.version === version)) {
      throw new KeyConfigError(
        `AVOW_PREVIOUS_MASTER_KEYS: version ${version} must be unique and lower than AVOW_MASTER_KEY_VERSION (${currentVersion})`,
      );
    }
    out.push({
      version,
      key: parseMasterKey(keyText, `AVOW_PREVIOUS_MASTER_KEYS (version ${version})`),
    });
  }
  return out;
}

/**
 * Embedded mode keeps one file per master key version: master.key is version 1,
 * master.v<N>.key version N. The highest version is current; `avow master-key
 * rotate` adds the next file, and an old one can be removed once nothing is
 * wrapped under it any more.
 */
export function masterKeyFileFor(dir: string, version: number): string {
  return version === 1 ? path.join(dir, 'master.key') : path.join(dir, `master.v${version}.key`);
}

function readMasterKeyVersions(dir: string, firstFile: string): { version: number; key: Buffer }[] {
  const versions = [
    { version: 1, key: parseMasterKey(readFileSync(firstFile, 'utf8'), firstFile) },
  ];
  for (const name of readdirSync(dir)) {
    const match = /^master\.v(\d+)\.key$/.exec(name);
    if (!match) continue;
    const file = path.join(dir, name);
    versions.push({
      version: Number(match[1]),
      key: parseMasterKey(readFileSync(file, 'utf8'), file),
    });
  }
  return versions;
}

/** Writes the next master key version in embedded mode; refuses to overwrite. */
export function addMasterKeyFile(dir: string, version: number): { file: string; key: Buffer } {
  const key = randomBytes(MASTER_KEY_BYTES);
  const file = masterKeyFileFor(dir, version);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { file, key };
}
