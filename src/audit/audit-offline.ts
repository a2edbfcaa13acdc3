import { createPublicKey, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import {
  type ChainCheckpoint,
  type ChainHead,
  createChainVerifier,
  type VerifyResult,
} from './audit-chain.js';

/**
 * The offline verifier: an export file and the installation's public key are
 * all it needs; no server, no database, no secret. An auditor can run it on
 * their own machine (`avow audit verify --file export.jsonl --public-key key.pem`).
 */
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const lane = z.number().int().min(0).max(1000);
const headerLine = z.object({
  type: z.literal('header'),
  format: z.literal('avow.audit.export'),
  // 1: one chain per tenant (no lanes, no positions); 2: lanes.
  version: z.union([z.literal(1), z.literal(2)]),
  tenantId: z.string(),
});
const checkpointCommon = {
  type: z.literal('checkpoint'),
  tenantId: z.string(),
  id: z.string(),
  kind: z.enum(['interval', 'on_demand', 'prune']),
  at: z.string(),
  signature: z.string(),
};
const checkpointLine = z.union([
  z
    .object({
      ...checkpointCommon,
      heads: z.array(z.object({ lane, seq: z.number().int().min(0), hash: hex64 }).strict()),
    })
    .strict(),
  z.object({ ...checkpointCommon, seq: z.number().int().min(0), hash: hex64 }).strict(),
]);
const headLine = z.object({
  type: z.literal('head'),
  tenantId: z.string(),
  lane: lane.default(0),
  lanes: z.number().int().min(1).nullable().default(null),
  seq: z.number().int().min(0),
  hash: hex64,
  signature: z.string(),
});
const entryLine = z
  .object({
    type: z.literal('entry'),
    tenantId: z.string(),
    lane: lane.default(0),
    seq: z.number().int().min(1),
    position: z.number().int().min(1).optional(),
    id: z.string(),
    at: z.string(),
    actorType: z.string(),
    actorId: z.string(),
    action: z.string(),
    subjectId: z.string().nullable(),
    categories: z.array(z.string()).nullable(),
    purpose: z.string().nullable(),
    outcome: z.string(),
    requestId: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
    sealed: z.string().nullable(),
    sealedKey: z.string().nullable(),
    prevHash: hex64,
    hash: hex64,
  })
  // A version 1 export has one chain in order: its seq is its position.
  .transform(({ position, ...e }) => ({ ...e, position: position ?? e.seq }));

export class ExportFormatError extends Error {}

export function readPublicKey(pem: string): KeyObject {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519')
      throw new ExportFormatError('the public key is not an Ed25519 key');
    return key;
  } catch (error) {
    if (error instanceof ExportFormatError) throw error;
    throw new ExportFormatError(
      'the public key is not a PEM public key (get it from GET /v1/audit/public-key)',
    );
  }
}

async function* lines(path: string): AsyncGenerator<{ n: number; value: unknown }> {
  const reader = createInterface({
    input: createReadStream(path, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let n = 0;
  for await (const line of reader) {
    n += 1;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ExportFormatError(`line ${n} is not JSON`);
    }
    yield { n, value };
  }
}

/** Verifies an export file: two passes, so entries stream and memory stays flat. */
export async function verifyExportFile(path: string, publicKeyPem: string): Promise<VerifyResult> {
  const publicKey = readPublicKey(publicKeyPem);
  let tenantId: string | undefined;
  const checkpoints: ChainCheckpoint[] = [];
  const heads: ChainHead[] = [];
  for await (const { n, value } of lines(path)) {
    const type = (value as { type?: unknown }).type;
    if (type === 'header') {
      const parsed = headerLine.safeParse(value);
      if (!parsed.success)
        throw new ExportFormatError(`line ${n}: not an Avow audit export header`);
      tenantId = parsed.data.tenantId;
    } else if (type === 'checkpoint') {
      const parsed = checkpointLine.safeParse(value);
      if (!parsed.success) throw new ExportFormatError(`line ${n}: malformed checkpoint`);
      const { type: _type, ...c } = parsed.data;
      checkpoints.push(c);
    } else if (type === 'head') {
      const parsed = headLine.safeParse(value);
      if (!parsed.success) throw new ExportFormatError(`line ${n}: malformed head`);
      const { type: _type, ...h } = parsed.data;
      heads.push(h);
    } else if (type !== 'entry') {
      throw new ExportFormatError(`line ${n}: unknown line type`);
    }
  }
  if (tenantId === undefined)
    throw new ExportFormatError(
      'the file has no export header line; export it with GET /v1/audit/export?format=jsonl',
    );
  const verifier = createChainVerifier({ tenantId, publicKey, checkpoints });
  for await (const { n, value } of lines(path)) {
    if ((value as { type?: unknown }).type !== 'entry') continue;
    const parsed = entryLine.safeParse(value);
    if (!parsed.success)
      throw new ExportFormatError(
        `line ${n}: malformed entry (${parsed.error.issues[0]?.path.join('.') ?? 'shape'})`,
      );
    const { type: _type, ...entry } = parsed.data;
    verifier.entry(entry);
  }
  // Without a lane's signed head a cut tail cannot be told from the end of
  // the lane: the verifier reports every lane with entries and no head.
  return verifier.finish(heads);
}
