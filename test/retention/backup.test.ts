import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createEmbeddedBackup,
  exportKeyStore,
  KeyBackupRefused,
  pruneKeyBackups,
  restoreEmbeddedBackup,
  restoreKeyStore,
  SubjectsWithoutKey,
} from '../../src/backup/backup.js';
import { runCli } from '../../src/cli/main.js';
import { generateInstallationKeys } from '../../src/crypto/installation-keys.js';
import { createKeyring, open, seal } from '../../src/crypto/keyring.js';
import { createSubjectKeys } from '../../src/crypto/subject-keys.js';
import { type Db, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { openTestDatabase } from '../support/database.js';

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
    await addTenant(live.db, tenantId);
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

async function addTenant(db: Db, id: string): Promise<void> {
  await db
    .insertInto('tenants')
    .values({
      id,
      name: 'T',
      role: 'controller',
      controller: 'null',
      region: 'eu',
      contractStart: '2025-01-01',
      updatedAt: new Date(),
    })
    .execute();
}

/** A subject as the vault makes one: its key in the same step. */
async function addSubject(db: Db, tenant: string, id: string): Promise<Buffer> {
  const at = new Date('2025-01-31T12:00:00Z');
  await db
    .insertInto('subjects')
    .values({ tenantId: tenant, id, kind: 'customer', createdAt: at, updatedAt: at })
    .execute();
  return subjectKeys.getOrCreate(db, tenant, id);
}

const keyStates = async (db: Db) =>
  (
    await db
      .selectFrom('subjectKeys')
      .select(['subjectId', 'destroyedAt'])
      .orderBy('subjectId')
      .execute()
  ).map((k) => `${k.subjectId}:${k.destroyedAt === null ? 'live' : 'destroyed'}`);

describe('backups: a documented backup cannot shred a subject', () => {
  it('refuses keys exported before the data (a subject without a key), unless told to erase it; keys exported after the data restore every subject', async () => {
    const database = await openTestDatabase();
    const db = database.db;
    const now = new Date('2025-02-01T00:00:00Z');
    try {
      const tenant = 'ten_01jbackuporder000000000000';
      await addTenant(db, tenant);
      await addSubject(db, tenant, 'sub_a');
      // The old order: keys first, then a subject is created, then the data is dumped.
      const keysFirst = await exportKeyStore(db, { now, window: 'P1M' });
      const keyB = await addSubject(db, tenant, 'sub_b');

      await expect(restoreKeyStore(db, keysFirst, { now })).rejects.toThrow(SubjectsWithoutKey);
      await expect(restoreKeyStore(db, keysFirst, { now })).rejects.toThrow(
        /^1 subject in the restored data has no key in the key-store backup .*--erase-subjects-without-key/,
      );
      // Refused as a whole: the keys in the database are as they were.
      expect(await keyStates(db)).toEqual(['sub_a:live', 'sub_b:live']);

      // The documented order: data first (sub_a, sub_b), keys after. Meanwhile
      // sub_a is erased, and a subject and a tenant are created (not in the data).
      await subjectKeys.destroy(db, tenant, 'sub_a', now);
      const later = 'ten_01jbackuplater000000000000';
      await addTenant(db, later);
      await addSubject(db, later, 'sub_later');
      await addSubject(db, tenant, 'sub_c');
      const keysAfter = await exportKeyStore(db, { now, window: 'P1M' });
      // What the dump held: without the subject and tenant created after it.
      await db.deleteFrom('subjectKeys').where('subjectId', 'in', ['sub_c', 'sub_later']).execute();
      await db.deleteFrom('subjects').where('id', 'in', ['sub_c', 'sub_later']).execute();
      await db.deleteFrom('tenants').where('id', '=', later).execute();

      const restored = await restoreKeyStore(db, keysAfter, { now });
      expect(restored.subjectsErased).toBe(0);
      // The erasure made after the dump is honoured; sub_b opens with its own key.
      expect(await keyStates(db)).toEqual(['sub_a:destroyed', 'sub_b:live', 'sub_c:live']);
      const b = await subjectKeys.get(db, tenant, 'sub_b');
      expect(b.state === 'live' && b.key.equals(keyB)).toBe(true);

      // Told to, a subject without a key is restored as erased.
      const erased = await restoreKeyStore(db, keysFirst, { now, eraseSubjectsWithoutKey: true });
      expect(erased.subjectsErased).toBe(1);
      expect(await keyStates(db)).toEqual(['sub_a:live', 'sub_b:destroyed']);
    } finally {
      await database.close();
    }
  }, 60_000);

  it('embedded: keys come from the data copy; a mismatched pair is refused by the CLI with the live database untouched', async () => {
    const dataDir = path.join(root, 'embedded');
    const pglite = path.join(dataDir, 'pglite');
    mkdirSync(dataDir, { recursive: true });
    const live = await openDatabase({ kind: 'pglite', dataDir: pglite });
    expect((await migrateToLatest(live.db)).ok).toBe(true);
    const tenant = 'ten_01jbackupembedded0000000000';
    await addTenant(live.db, tenant);
    await addSubject(live.db, tenant, 'sub_a');
    await live.close();
    const out = path.join(root, 'embedded-backups');
    const first = await createEmbeddedBackup({
      pgliteDir: pglite,
      outDir: out,
      // The CLI restores at the real time: the key backups must be inside their window then.
      now: new Date(Date.now() - 60_000),
      window: 'P1M',
    });
    const again = await openDatabase({ kind: 'pglite', dataDir: pglite });
    await addSubject(again.db, tenant, 'sub_b');
    await again.close();
    const second = await createEmbeddedBackup({
      pgliteDir: pglite,
      outDir: out,
      now: new Date(),
      window: 'P1M',
    });
    expect(second.keys.subjectKeys.map((k) => k.id)).toEqual(['sub_a', 'sub_b']);

    const saved = { dir: process.env.AVOW_DATA_DIR, url: process.env.DATABASE_URL };
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.env.AVOW_DATA_DIR = dataDir;
    delete process.env.DATABASE_URL;
    process.stderr.write = ((chunk: string) => {
      stderr.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      // The second data backup with the first key file: sub_b has no key.
      const restore = ['backup', 'restore', '--data', second.dataDir, '--keys', first.keyFile];
      expect(await runCli(restore)).toBe(1);
      expect(stderr.join('')).toMatch(/1 subject in the restored data has no key/);
      expect(readdirSync(dataDir).filter((n) => n.includes('restoring'))).toEqual([]);
      const untouched = await openDatabase({ kind: 'pglite', dataDir: pglite });
      expect(await keyStates(untouched.db)).toEqual(['sub_a:live', 'sub_b:live']);
      await untouched.close();

      expect(await runCli([...restore, '--erase-subjects-without-key', '--json'])).toBe(0);
      const erased = await openDatabase({ kind: 'pglite', dataDir: pglite });
      expect(await keyStates(erased.db)).toEqual(['sub_a:live', 'sub_b:destroyed']);
      await erased.close();
    } finally {
      process.stderr.write = write;
      if (saved.dir === undefined) delete process.env.AVOW_DATA_DIR;
      else process.env.AVOW_DATA_DIR = saved.dir;
      if (saved.url !== undefined) process.env.DATABASE_URL = saved.url;
    }
  }, 120_000);
});
