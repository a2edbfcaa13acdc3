import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  sign as edSign,
  verify as edVerify,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';

/**
 * The one place that holds key material and uses it. AES-256-GCM with a fresh
 * 12-byte IV per message; keys derived with HKDF-SHA-256; Ed25519 signatures.
 * Nothing here ever logs or returns a key in an error.
 */

const FORMAT_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export type MasterKey = { version: number; key: Buffer };

export type Sealed = Buffer;

export class DecryptionError extends Error {
  constructor() {
    super('The data could not be decrypted (wrong key, erased subject or tampered bytes)');
    this.name = 'DecryptionError';
  }
}

/** version(1) | iv(12) | tag(16) | ciphertext; the AAD binds it to where it belongs. */
export function seal(key: Buffer, plaintext: Buffer | string, aad: string): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([
    cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext),
    cipher.final(),
  ]);
  return Buffer.concat([Buffer.from([FORMAT_VERSION]), iv, cipher.getAuthTag(), body]);
}

export function open(key: Buffer, sealed: Sealed, aad: string): Buffer {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION)
    throw new DecryptionError();
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const body = sealed.subarray(1 + IV_BYTES + TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new DecryptionError();
  }
}

export function deriveKey(secret: Buffer, info: string, bytes = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), Buffer.from(info, 'utf8'), bytes));
}

export function newDataKey(): Buffer {
  return randomBytes(32);
}

export type Keyring = ReturnType<typeof createKeyring>;

export function createKeyring(options: { masterKeys: MasterKey[]; signingKey: KeyObject }) {
  if (options.masterKeys.length === 0) throw new Error('a keyring needs at least one master key');
  const byVersion = new Map(options.masterKeys.map((m) => [m.version, m.key]));
  const current = options.masterKeys.reduce((a, b) => (b.version > a.version ? b : a));
  const publicKey = createPublicKey(options.signingKey);
  // Wrapping uses a key derived for that one job, never the master key itself.
  const wrappingKey = (version: number) => {
    const master = byVersion.get(version);
    if (!master) throw new DecryptionError();
    return deriveKey(master, 'avow/v1/wrap-data-key');
  };

  return {
    currentMasterVersion: current.version,
    /** Wraps a data key under the current master key. */
    wrap(dataKey: Buffer, context: string): { wrapped: Buffer; masterVersion: number } {
      return {
        wrapped: seal(wrappingKey(current.version), dataKey, context),
        masterVersion: current.version,
      };
    },
    unwrap(wrapped: Buffer, masterVersion: number, context: string): Buffer {
      return open(wrappingKey(masterVersion), wrapped, context);
    },
    /** A key for one named purpose (e.g. blind indexes), derived from the current master key. */
    derive(info: string, masterVersion = current.version): Buffer {
      const master = byVersion.get(masterVersion);
      if (!master) throw new DecryptionError();
      return deriveKey(master, info);
    },
    sign(bytes: Buffer): Buffer {
      return edSign(null, bytes, options.signingKey);
    },
    verify(bytes: Buffer, signature: Buffer): boolean {
      return verifySignature(bytes, signature, publicKey);
    },
    publicKey,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

export function verifySignature(bytes: Buffer, signature: Buffer, publicKey: KeyObject): boolean {
  try {
    return edVerify(null, bytes, publicKey, signature);
  } catch {
    return false;
  }
}
