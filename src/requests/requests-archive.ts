import { createHash } from 'node:crypto';
import { stringify } from 'csv-stringify/sync';
import yazl from 'yazl';
import { canonicalJson } from '../consent/receipts.js';
import { coveredBy, type Policy } from '../decisions/decide.js';
import type { Register } from '../register/register-schema.js';
import type { VaultService } from '../vault/vault-service.js';

/**
 * The archive an access or portability request answers with: one zip holding
 * data.json (every record by category, with its source, purposes, legal
 * bases, recipients and retention), a CSV per category, the consent history,
 * "who accessed my data", and a manifest of SHA-256 hashes signed with the
 * installation's Ed25519 key.
 */
export type Exported = Awaited<ReturnType<VaultService['exportSubject']>>;

export type ArchiveInput = {
  requestId: string;
  tenantId: string;
  generatedAt: Date;
  register: Register | null;
  policy: Policy;
  exported: Exported | null;
  consentHistory: unknown[];
  accessHistory: unknown[];
  sign: (bytes: Buffer) => Buffer;
};

export const manifestBytes = (manifest: unknown): Buffer =>
  Buffer.from(`avow/v1/export-manifest\n${canonicalJson(manifest)}`, 'utf8');

function retentionOf(
  register: Register | null,
  policy: Policy,
  category: string,
  purposes: string[],
): string[] {
  if (!register) return [];
  const out: string[] = [];
  for (const key of purposes) {
    const rule = register.retention.rules.find(
      (r) => r.key === policy.purposes.get(key)?.retention,
    );
    if (rule)
      out.push(`${rule.name ?? rule.key}: ${rule.action} ${rule.duration} after ${rule.trigger}`);
  }
  for (const rule of register.retention.rules) {
    if (rule.categories.length > 0 && coveredBy(category, rule.categories, policy.categoryParent))
      out.push(`${rule.name ?? rule.key}: ${rule.action} ${rule.duration} after ${rule.trigger}`);
  }
  for (const keep of register.retention.statutoryKeeps) {
    if (coveredBy(category, keep.categories, policy.categoryParent))
      out.push(`kept by law (${keep.law}): ${keep.duration} after ${keep.trigger}`);
  }
  return [...new Set(out)];
}

function recipientsOf(
  register: Register | null,
  policy: Policy,
  category: string,
  purposes: string[],
) {
  if (!register) return [];
  const keys = new Set(purposes.flatMap((p) => policy.purposes.get(p)?.recipients ?? []));
  return register.recipients
    .filter(
      (r) =>
        keys.has(r.key) &&
        (r.categories.length === 0 || coveredBy(category, r.categories, policy.categoryParent)),
    )
    .map((r) => ({
      name: r.name,
      role: r.role,
      countries: r.countries,
      safeguard: r.safeguard ?? null,
    }));
}

function categoryName(register: Register | null, key: string): string {
  return register?.categories.find((c) => c.key === key)?.name ?? key;
}

const csvValue = (value: unknown): string =>
  typeof value === 'string' ? value : JSON.stringify(value);
const fileSafe = (key: string): string => key.replace(/[^a-z0-9_.-]/gi, '_');

export function buildDataJson(input: ArchiveInput) {
  const { register, policy, exported } = input;
  const byCategory = new Map<string, unknown[]>();
  for (const record of exported?.records ?? []) {
    const purposes = record.purposes.map((key) => {
      const purpose = policy.purposes.get(key);
      return { key, name: purpose?.name ?? key, legalBasis: purpose?.legalBasis ?? null };
    });
    const entry = {
      id: record.id,
      value: record.value,
      source: record.source,
      purposes,
      legalBases: [...new Set(purposes.map((p) => p.legalBasis).filter((b) => b !== null))],
      recipients: recipientsOf(register, policy, record.category, record.purposes),
      retention: retentionOf(register, policy, record.category, record.purposes),
      collectedAt: record.collectedAt.toISOString(),
      version: record.version,
    };
    byCategory.set(record.category, [...(byCategory.get(record.category) ?? []), entry]);
  }
  return {
    format: 'avow.subject-export/1',
    requestId: input.requestId,
    generatedAt: input.generatedAt.toISOString(),
    controller: register
      ? { name: register.organisation.name, contact: register.organisation.privacyContact }
      : null,
    subject: exported
      ? { id: exported.subject.id, kind: exported.subject.kind, status: exported.subject.status }
      : null,
    identities: (exported?.identities ?? []).map((i) => ({ kind: i.kind, value: i.value })),
    categories: [...byCategory.entries()].map(([key, records]) => ({
      key,
      name: categoryName(register, key),
      records,
    })),
    rectificationHistory: (exported?.history ?? []).map((h) => ({
      recordId: h.recordId,
      version: h.version,
      value: h.value,
      reason: h.reason,
      changedAt: h.changedAt,
    })),
    purposeStates: exported?.purposeStates ?? [],
  };
}

export async function buildArchive(input: ArchiveInput): Promise<{ zip: Buffer; files: string[] }> {
  const data = buildDataJson(input);
  const files: [string, Buffer][] = [
    ['data.json', Buffer.from(`${JSON.stringify(data, null, 2)}\n`)],
  ];
  for (const category of data.categories) {
    const rows = (
      category.records as ReturnType<typeof buildDataJson>['categories'][number]['records']
    ).map((r) => {
      const record = r as {
        id: string;
        value: unknown;
        source: { type: string };
        purposes: { key: string }[];
        legalBases: string[];
        recipients: { name: string }[];
        retention: string[];
        collectedAt: string;
      };
      return {
        record_id: record.id,
        value: csvValue(record.value),
        source: csvValue(record.source),
        purposes: record.purposes.map((p) => p.key).join('; '),
        legal_bases: record.legalBases.join('; '),
        recipients: record.recipients.map((x) => x.name).join('; '),
        retention: record.retention.join('; '),
        collected_at: record.collectedAt,
      };
    });
    files.push([
      `categories/${fileSafe(category.key)}.csv`,
      Buffer.from(stringify(rows, { header: true })),
    ]);
  }
  files.push([
    'consent-history.json',
    Buffer.from(`${JSON.stringify(input.consentHistory, null, 2)}\n`),
  ]);
  files.push(['access-log.json', Buffer.from(`${JSON.stringify(input.accessHistory, null, 2)}\n`)]);
  const manifest = {
    format: 'avow.export-manifest/1',
    requestId: input.requestId,
    tenantId: input.tenantId,
    generatedAt: input.generatedAt.toISOString(),
    files: files.map(([name, bytes]) => ({
      name,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    })),
  };
  const signed = {
    manifest,
    signature: { alg: 'Ed25519', value: input.sign(manifestBytes(manifest)).toString('base64') },
  };
  files.push(['manifest.json', Buffer.from(`${JSON.stringify(signed, null, 2)}\n`)]);

  const zip = new yazl.ZipFile();
  for (const [name, bytes] of files) zip.addBuffer(bytes, name, { mtime: input.generatedAt });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return { zip: Buffer.concat(chunks), files: files.map(([name]) => name) };
}
