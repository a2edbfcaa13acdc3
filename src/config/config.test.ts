import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('configuration', () => {
  it('defaults to the embedded database in ./data on port 8080', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.database).toEqual({ kind: 'pglite', dataDir: path.resolve('data', 'pglite') });
    expect(config.seedDemo).toBe(true);
    expect(config.migrateOnStart).toBe(true);
  });

  it('uses PostgreSQL when DATABASE_URL is set, without a demo tenant', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/avow', AVOW_PORT: '9000' });
    expect(config.database).toMatchObject({ kind: 'postgres', url: 'postgres://u@db:5432/avow' });
    expect(config.port).toBe(9000);
    expect(config.seedDemo).toBe(false);
  });

  it('names every bad variable and what it accepts', () => {
    try {
      loadConfig({
        AVOW_PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        AVOW_LOG_LEVEL: 'loud',
        AVOW_DATABASE_POOL_SIZE: '2.5',
        AVOW_API_KEY_CACHE_SECONDS: '-1',
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain('AVOW_PORT: must be a whole number from 0 to 65535');
      expect(message).toContain('AVOW_DATABASE_POOL_SIZE: must be a whole number from 1 to 200');
      expect(message).toContain(
        'AVOW_API_KEY_CACHE_SECONDS: must be a whole number from 0 to 3600',
      );
      expect(message).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
      expect(message).toContain('AVOW_LOG_LEVEL');
      expect(message).toContain('debug');
    }
  });

  it('reads a config file and lets the environment win', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'avow-config-'));
    const file = path.join(dir, 'avow.yaml');
    writeFileSync(file, 'AVOW_PORT: 7000\nAVOW_LOG_LEVEL: warn\n');
    expect(loadConfig({ AVOW_CONFIG: file }).port).toBe(7000);
    expect(loadConfig({ AVOW_CONFIG: file, AVOW_PORT: '7001' }).port).toBe(7001);
    writeFileSync(file, 'AVOW_PROT: 7000\n');
    expect(() => loadConfig({ AVOW_CONFIG: file })).toThrow(/AVOW_PROT, which is not a setting/);
    expect(() => loadConfig({ AVOW_CONFIG: path.join(dir, 'missing.yaml') })).toThrow(
      /cannot read/,
    );
  });
});
