import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * The fideslang default taxonomy (copied into ./taxonomy with its licence).
 * Loaded once, on first use; it is read-only reference data.
 */
export type TaxonomyEntry = {
  key: string;
  name: string;
  description: string;
  parent: string | null;
};

export type Taxonomy = {
  categories: Map<string, TaxonomyEntry>;
  subjects: Map<string, TaxonomyEntry>;
  uses: Map<string, TaxonomyEntry>;
};

const entry = z.object({
  fides_key: z.string(),
  name: z.string(),
  description: z.string().nullable().optional(),
  parent_key: z.string().nullable().optional(),
});

function load(file: string, root: string): Map<string, TaxonomyEntry> {
  const text = readFileSync(new URL(`./taxonomy/${file}`, import.meta.url), 'utf8');
  const document = z.record(z.string(), z.array(entry)).parse(parse(text));
  const entries = document[root] ?? [];
  return new Map(
    entries.map((e) => [
      e.fides_key,
      {
        key: e.fides_key,
        name: e.name,
        description: e.description ?? '',
        parent: e.parent_key ?? null,
      },
    ]),
  );
}

let cached: Taxonomy | undefined;

export function fideslang(): Taxonomy {
  cached ??= {
    categories: load('data_categories.yml', 'data_category'),
    subjects: load('data_subjects.yml', 'data_subject'),
    uses: load('data_uses.yml', 'data_use'),
  };
  return cached;
}

/**
 * Categories that are special (GDPR Art. 9) wherever they appear in the tree:
 * health, genetics, biometrics, political opinion, ethnicity, religion, sex life.
 */
export const article9Roots = [
  'user.health_and_medical',
  'user.biometric',
  'user.authorization.biometric',
  'user.demographic.political_opinion',
  'user.demographic.race_ethnicity',
  'user.demographic.religious_belief',
  'user.demographic.sexual_orientation',
] as const;

export function isUnderAny(key: string, roots: readonly string[]): boolean {
  return roots.some((root) => key === root || key.startsWith(`${root}.`));
}
