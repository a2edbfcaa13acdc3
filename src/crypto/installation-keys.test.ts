import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { KeyConfigError, loadInstallationKeys } from './installation-keys.js';

const signingPem = () =>
  generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

describe('installation keys', () => {
  it('creates them in the data folder on first start and reads the same ones after', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'avow-keys-'));
    const first = loadInstallationKeys(loadConfig({ AVOW_DATA_DIR: dir }));
    expect(first.source).toBe('generated');
    const second = loadInstallationKeys(loadConfig({ AVOW_DATA_DIR: dir }));
    expect(second.source).toBe('file');
    expect(second.masterKey.equals(first.masterKey)).toBe(true);
    expect(readFileSync(path.join(dir, 'keys', 'master.key'), 'utf8').trim()).toBe(
      first.masterKey.toString('base64'),
    );
  });

  it('refuses to start on PostgreSQL without keys, and says what to set', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://localhost/avow' });
    expect(() => loadInstallationKeys(config)).toThrow(KeyConfigError);
    expect(() => loadInstallationKeys(config)).toThrow(
      /Set AVOW_MASTER_KEY \(or AVOW_MASTER_KEY_FILE\) and AVOW_SIGNING_KEY/,
    );
  });

  it('reads keys from the environment and rejects malformed ones without echoing them', () => {
    const master = randomBytes(32).toString('base64');
    const keys = loadInstallationKeys(
      loadConfig({
        DATABASE_URL: 'postgres://x/y',
        AVOW_MASTER_KEY: master,
        AVOW_SIGNING_KEY: signingPem(),
      }),
    );
    expect(keys.source).toBe('environment');
    expect(keys.masterKey.toString('base64')).toBe(master);

    const short = 'c2hvcnQta2V5';
    try {
      loadInstallationKeys(
        loadConfig({
          DATABASE_URL: 'postgres://x/y',
          AVOW_MASTER_KEY: short,
          AVOW_SIGNING_KEY: signingPem(),
        }),
      );
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('32-byte key');
      expect((error as Error).message).not.toContain(short);
    }
    expect(() =>
      loadInstallationKeys(
        loadConfig({
          DATABASE_URL: 'postgres://x/y',
          AVOW_MASTER_KEY: master,
          AVOW_SIGNING_KEY: 'not a key',
        }),
      ),
    ).toThrow(/Ed25519/);
  });
});
