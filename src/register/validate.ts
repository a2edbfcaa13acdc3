import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from 'yaml';
import type { z } from 'zod';
import {
  auditLogSchema,
  categorySchema,
  cookieSchema,
  purposeSchema,
  type Register,
  recipientSchema,
  registerSchema,
  retentionRuleSchema,
  rightsSectionSchema,
  statutoryKeepSchema,
  storageSchema,
  subjectSchema,
} from './register-schema.js';
import { checkRules, type Item, type Path, type RegisterView } from './rules.js';

/** One thing wrong with a register, placed so a person can find and fix it. */
export type RegisterProblem = {
  file: string;
  line: number;
  column: number;
  /** Where in the document, e.g. purposes[2].legalBasis */
  path: string;
  message: string;
  allowed?: string;
};

export type ValidationResult =
  | { ok: true; register: Register; problems: [] }
  | { ok: false; problems: RegisterProblem[] };

export function formatPath(path: Path): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

/** `file:line:col path: message (allowed: ...)`, the form the CLI prints. */
export function formatProblem(problem: RegisterProblem): string {
  const allowed = problem.allowed ? ` (allowed: ${problem.allowed})` : '';
  return `${problem.file}:${problem.line}:${problem.column} ${problem.path || '(document)'}: ${problem.message}${allowed}`;
}

/** Finds the node at a path (or the nearest existing ancestor); at a key when asked. */
function locate(doc: Document, path: Path, atKey: boolean): Node | null {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === part);
      if (!pair) return node as Node;
      if (last && atKey) return pair.key as Node;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof part === 'number') {
      const next = node.items[part];
      if (!next) return node as Node;
      node = next;
    } else {
      return (node as Node | null) ?? null;
    }
  }
  return (node as Node | null) ?? null;
}

type ZodDef = {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string>;
  values?: unknown[];
};
const defOf = (schema: z.ZodType): ZodDef =>
  (schema as unknown as { _zod: { def: ZodDef } })._zod.def;

/** The schema at a path, to say what is allowed there. */
function schemaAt(root: z.ZodType, path: Path): z.ZodType | undefined {
  let schema: z.ZodType | undefined = root;
  const unwrap = (s: z.ZodType): z.ZodType => {
    let current = s;
    for (let i = 0; i < 10; i++) {
      const def = defOf(current);
      if (def.innerType) current = def.innerType;
      else if (def.type === 'pipe' && def.in) current = def.in;
      else break;
    }
    return current;
  };
  for (const part of path) {
    if (!schema) return undefined;
    let def = defOf(unwrap(schema));
    if (def.type === 'union') {
      const object = def.options?.map(unwrap).find((o) => defOf(o).type === 'object');
      if (!object) return undefined;
      def = defOf(object);
    }
    if (def.type === 'object' && typeof part === 'string') schema = def.shape?.[part];
    else if (def.type === 'array') schema = def.element;
    else return undefined;
  }
  return schema && unwrap(schema);
}

function allowedAt(path: Path): string | undefined {
  const schema = schemaAt(registerSchema, path);
  if (!schema) return undefined;
  const def = defOf(schema);
  if (def.type === 'enum' && def.entries) return Object.values(def.entries).join(', ');
  if (def.type === 'literal' && def.values) return def.values.map(String).join(', ');
  if (def.type === 'object' && def.shape) return Object.keys(def.shape).join(', ');
  if (def.type === 'union' && def.options)
    return def.options
      .map((o) => {
        const d = defOf(o);
        if (d.type === 'enum' && d.entries) return Object.values(d.entries).join(', ');
        if (d.type === 'literal' && d.values) return d.values.map(String).join(', ');
        return d.type === 'pipe' ? 'an object' : d.type;
      })
      .join(', or ');
  return schema.description;
}

type RawProblem = { path: Path; message: string; allowed?: string; atKey?: boolean };

function zodProblems(issues: z.core.$ZodIssue[], base: Path, raw: unknown): RawProblem[] {
  const out: RawProblem[] = [];
  for (const issue of issues) {
    const path = [...base, ...(issue.path as Path)];
    const allowed = allowedAt(path);
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys)
        out.push({ path: [...path, k], message: `unknown field "${k}"`, allowed, atKey: true });
      continue;
    }
    if (issue.code === 'invalid_type' && valueAt(raw, issue.path as Path) === undefined) {
      out.push({ path, message: 'is required', ...(allowed ? { allowed } : {}) });
      continue;
    }
    if (issue.code === 'invalid_value' || issue.code === 'invalid_union') {
      const got = valueAt(raw, issue.path as Path);
      const shown = typeof got === 'object' ? 'this value' : `"${String(got)}"`;
      out.push({ path, message: `${shown} is not allowed`, ...(allowed ? { allowed } : {}) });
      continue;
    }
    const own =
      issue.code === 'custom' ? (issue.params as { allowed?: string } | undefined) : undefined;
    const shown = own?.allowed ?? allowed;
    out.push({ path, message: issue.message, ...(shown ? { allowed: shown } : {}) });
  }
  return out;
}

function valueAt(raw: unknown, path: Path): unknown {
  let current = raw;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

function itemsOf<T>(
  raw: unknown,
  path: Path,
  schema: z.ZodType<T>,
  problems: RawProblem[],
  report: boolean,
): Item<T>[] {
  if (!Array.isArray(raw)) return [];
  const items: Item<T>[] = [];
  raw.forEach((value, i) => {
    let parsed = schema.safeParse(value);
    // An unknown field is already reported; still check the rest of the item.
    const shape = defOf(schema).shape;
    if (!parsed.success && shape && value && typeof value === 'object')
      parsed = schema.safeParse(
        Object.fromEntries(Object.entries(value).filter(([k]) => k in shape)),
      );
    if (parsed.success) items.push({ value: parsed.data, path: [...path, i] });
    else if (report) problems.push(...zodProblems(parsed.error.issues, [...path, i], value));
  });
  return items;
}

function keysOf(raw: unknown): Set<string> {
  if (!Array.isArray(raw)) return new Set();
  return new Set(
    raw
      .map((item) =>
        item && typeof item === 'object' ? (item as { key?: unknown }).key : undefined,
      )
      .filter((k): k is string => typeof k === 'string'),
  );
}

/** The parts of the document that parse on their own, for the cross-reference rules. */
function viewOf(raw: Record<string, unknown>): RegisterView {
  const none: RawProblem[] = [];
  const retention = (raw.retention ?? {}) as Record<string, unknown>;
  const audit = auditLogSchema.safeParse(retention.auditLog);
  const rights = rightsSectionSchema.safeParse(raw.rights);
  return {
    subjects: itemsOf(raw.subjects, ['subjects'], subjectSchema, none, false),
    categories: itemsOf(raw.categories, ['categories'], categorySchema, none, false),
    purposes: itemsOf(raw.purposes, ['purposes'], purposeSchema, none, false),
    recipients: itemsOf(raw.recipients, ['recipients'], recipientSchema, none, false),
    storage: itemsOf(raw.storage, ['storage'], storageSchema, none, false),
    cookies: itemsOf(raw.cookies, ['cookies'], cookieSchema, none, false),
    rules: itemsOf(retention.rules, ['retention', 'rules'], retentionRuleSchema, none, false),
    keeps: itemsOf(
      retention.statutoryKeeps,
      ['retention', 'statutoryKeeps'],
      statutoryKeepSchema,
      none,
      false,
    ),
    auditLogKeeps:
      audit.success && audit.data
        ? audit.data.keeps.map((k, i) => ({
            value: k,
            path: ['retention', 'auditLog', 'keeps', i],
          }))
        : [],
    rights: rights.success ? { value: rights.data, path: ['rights'] } : undefined,
    declared: {
      subjects: keysOf(raw.subjects),
      categories: keysOf(raw.categories),
      purposes: keysOf(raw.purposes),
      recipients: keysOf(raw.recipients),
      rules: keysOf(retention.rules),
    },
  };
}

/**
 * Validates a register's YAML text. Never throws for a bad document: every
 * problem found (YAML syntax, shape, references, GDPR rules) comes back at once,
 * each with its line and column.
 */
export function validateRegister(yamlText: string, file = 'register.yaml'): ValidationResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const place = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((error) => ({
        file,
        ...place(error.pos[0]),
        path: '',
        message: `YAML: ${error.message.split('\n')[0]}`,
        allowed: 'valid YAML',
      })),
    };
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return {
      ok: false,
      problems: [
        {
          file,
          line: 1,
          column: 1,
          path: '',
          message: 'the register is a YAML mapping (avow: 1, policy: ..., organisation: ...)',
          allowed: allowedAt([]) ?? 'a mapping',
        },
      ],
    };
  }
  const parsed = registerSchema.safeParse(raw);
  const rawProblems: RawProblem[] = parsed.success ? [] : zodProblems(parsed.error.issues, [], raw);
  rawProblems.push(...checkRules(viewOf(raw as Record<string, unknown>)));

  if (parsed.success && rawProblems.length === 0)
    return { ok: true, register: parsed.data, problems: [] };

  const problems = rawProblems.map((p): RegisterProblem => {
    const node = locate(doc, p.path, p.atKey ?? false);
    const at = node?.range ? place(node.range[0]) : { line: 1, column: 1 };
    return {
      file,
      ...at,
      path: formatPath(p.path),
      message: p.message,
      ...(p.allowed ? { allowed: p.allowed } : {}),
    };
  });
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, problems };
}
