import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createEmbeddedBackup,
  KeyBackupRefused,
  pruneKeyBackups,
  restoreEmbeddedBackup,
} from '../../src/backup/backup.js';
import { generateInstallationKeys } from '../../src/crypto/installation-keys.js';
import { createKeyring, open, seal } from '../../src/crypto/keyring.js';
import { createSubjectKeys } from '../../src/crypto/subject-keys.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

const root = mkdtempSync(path.join(tmpdir(), 'avow-backup-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const generated = generateInstallationKeys();
const keyring = createKeyring({
  masterKeys: [{ version: 1, key: generated.masterKey }],
  signingKey: generated.signingKey,
});
const subjectKeys = createSubjectKeys({ keyring });
const tenantId = 'ten_01jbackuptest00000000000000';
const subjectId = 'sub_01jbackuptest00000000000000';
const aad = 'avow/test/backup';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

async function readSubject(pgliteDir: string): Promise<string | 'unreadable'> {
  const db = await openDatabase({ kind: 'pglite', dataDir: pgliteDir });
  try {
    const record = await db.db
      .selectFrom('vaultRecords')
      .select('sealed')
      .where('tenantId', '=', tenantId)
      .executeTakeFirstOrThrow();
    const key = await subjectKeys.get(db.db, tenantId, subjectId);
    if (key.state !== 'live') return 'unreadable';
    return open(key.key, Buffer.from(record.sealed), aad).toString('utf8');
  } finally {
    await db.close();
  }
}

describe('backups: erased data leaves them within the backup window', () => {
  it('a data backup holds no data key; a key backup is refused after its window, so a shredded subject stays unreadable', async () => {
    const pglite = path.join(root, 'pglite');
    const live = await openDatabase({ kind: 'pglite', dataDir: pglite });
    expect((await migrateToLatest(live.db)).ok).toBe(true);
    await live.db
      .insertInto('tenants')
      .values({
        id: tenantId,
        name: 'T',
        role: 'controller',
        controller: 'null',
        region: 'eu',
        contractStart: '2025-01-01',
        updatedAt: new Date(),
      })
      .execute();
    const at = new Date('2025-01-31T12:00:00Z');
    await live.db
      .insertInto('subjects')
      .values({ tenantId, id: subjectId, kind: 'customer', createdAt: at, updatedAt: at })
      .execute();
    const key = await subjectKeys.getOrCreate(live.db, tenantId, subjectId);
    await live.db
      .insertInto('vaultRecords')
      .values({
        tenantId,
        id: 'rec_1',
        subjectId,
        category: 'user.name',
        source: 'subject',
        purposes: ['service'],
        sealed: seal(key, 'Anna Virtanen', aad),
        collectedAt: at,
        createdAt: at,
        updatedAt: at,
      })
      .execute();
    const wrapped = Buffer.from(
      (await live.db.selectFrom('subjectKeys').select('wrappedKey').executeTakeFirstOrThrow())
        .wrappedKey as Uint8Array,
    );
    await live.close();

    const out = path.join(root, 'backups');
    const made = await createEmbeddedBackup({
      pgliteDir: pglite,
      outDir: out,
      now: at,
      window: 'P1M',
    });
    expect(made.keys.expiresAt).toBe('2025-02-28T12:00:00.000Z');
    // No byte of the data backup is the subject's wrapped key.
    const leaking = filesUnder(made.dataDir)
      .filter((file) => readFileSync(file).includes(wrapped))
      .map((f) => path.relative(made.dataDir, f));
    expect(leaking).toEqual([]);

    // The subject is erased after the backup: the live key is destroyed at once.
    const again = await openDatabase({ kind: 'pglite', dataDir: pglite });
    await subjectKeys.destroy(again.db, tenantId, subjectId, new Date('2025-02-01T00:00:00Z'));
    await again.close();

    // After the window the key backup is refused...
    await expect(
      restoreEmbeddedBackup({
        dataBackupDir: made.dataDir,
        keyFile: made.keyFile,
        pgliteDir: pglite,
        now: new Date('2025-02-28T12:00:00.000Z'),
      }),
    ).rejects.toBeInstanceOf(KeyBackupRefused);
    // ...and the data restored without it cannot be read.
    await restoreEmbeddedBackup({
      dataBackupDir: made.dataDir,
      keyFile: null,
      pgliteDir: pglite,
      now: new Date('2025-02-28T12:00:00.000Z'),
    });
    expect(await readSubject(pglite)).toBe('unreadable');

    // Inside the window the same pair restores readable data: the window is what bounds it.
    await restoreEmbeddedBackup({
      dataBackupDir: made.dataDir,
      keyFile: made.keyFile,
      pgliteDir: pglite,
      now: new Date('2025-02-28T11:59:59.999Z'),
    });
    expect(await readSubject(pglite)).toBe('Anna Virtanen');

    // Pruning deletes the expired key backup.
    expect(pruneKeyBackups(out, new Date('2025-03-01T00:00:00Z'))).toEqual([made.keyFile]);
  }, 120_000);
});
