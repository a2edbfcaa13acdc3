import { durationInWords } from './duration.js';
import type {
  Category,
  Cookie,
  LegalBasis,
  Purpose,
  Recipient,
  RetentionRule,
  Rights,
  StatutoryKeep,
  Storage,
  Subject,
} from './register-schema.js';
import { article9Roots, fideslang, isUnderAny } from './taxonomy.js';

/**
 * The rules a register must keep beyond its shape: references resolve, keys
 * exist in the taxonomy, and the GDPR's own conditions hold. They run over
 * whatever parts of the document parsed, so one run reports every problem.
 */
export type Path = (string | number)[];
export type RuleProblem = { path: Path; message: string; allowed?: string; atKey?: boolean };
export type Item<T> = { value: T; path: Path };

export type RegisterView = {
  subjects: Item<Subject>[];
  categories: Item<Category>[];
  purposes: Item<Purpose>[];
  recipients: Item<Recipient>[];
  storage: Item<Storage>[];
  cookies: Item<Cookie>[];
  rules: Item<RetentionRule>[];
  keeps: Item<StatutoryKeep>[];
  auditLogKeeps: Item<string>[];
  rights: Item<Rights> | undefined;
  /** Keys written in each section, parsed or not, so a broken item is not also "unknown". */
  declared: Record<'subjects' | 'categories' | 'purposes' | 'recipients' | 'rules', Set<string>>;
};

/** EU member states plus Iceland, Liechtenstein and Norway. */
export const eeaCountries = new Set(
  'AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO'.split(
    ' ',
  ),
);
/**
 * Countries with an EU adequacy decision (Art. 45), as of 2024. US adequacy
 * covers only companies certified under the EU-US Data Privacy Framework.
 */
export const adequacyCountries = new Set('AD AR CA FO GG IL IM JP JE NZ KR CH GB UY US'.split(' '));

export function outsideEea(country: string): boolean {
  return country !== 'EEA' && !eeaCountries.has(country);
}

function list(values: Iterable<string>, max = 12): string {
  const all = [...values];
  if (all.length === 0) return '(none declared)';
  return all.length > max ? `${all.slice(0, max).join(', ')}, ...` : all.join(', ');
}

function bases(purpose: Purpose): LegalBasis[] {
  return [
    purpose.legalBasis,
    ...(purpose.basisCondition ? [purpose.basisCondition.otherwise] : []),
    ...purpose.additionalBases,
  ];
}

export function checkRules(view: RegisterView): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const taxonomy = fideslang();
  const push = (path: Path, message: string, allowed?: string) =>
    problems.push(allowed === undefined ? { path, message } : { path, message, allowed });

  const refs = (
    keys: readonly string[],
    basePath: Path,
    declared: Set<string>,
    what: string,
    section: string,
  ) => {
    keys.forEach((k, i) => {
      if (!declared.has(k))
        push([...basePath, i], `${what} "${k}" is not declared in ${section}`, list(declared));
    });
  };

  // Duplicate keys: a reference must name exactly one thing.
  const duplicates = (items: Item<{ key: string }>[], section: string) => {
    const seen = new Set<string>();
    for (const item of items) {
      if (seen.has(item.value.key))
        push([...item.path, 'key'], `the key "${item.value.key}" is used twice in ${section}`);
      seen.add(item.value.key);
    }
  };
  duplicates(view.subjects, 'subjects');
  duplicates(view.categories, 'categories');
  duplicates(view.purposes, 'purposes');
  duplicates(view.recipients, 'recipients');
  duplicates(view.storage, 'storage');
  duplicates(view.rules, 'retention.rules');
  duplicates(view.keeps, 'retention.statutoryKeeps');
  const cookieNames = new Set<string>();
  for (const c of view.cookies) {
    if (cookieNames.has(c.value.name))
      push([...c.path, 'name'], `the cookie "${c.value.name}" is listed twice`);
    cookieNames.add(c.value.name);
  }

  for (const { value: s, path } of view.subjects) {
    if (taxonomy.subjects.has(s.key)) continue;
    if (!s.parent) {
      push(
        [...path, 'key'],
        `"${s.key}" is not a fideslang data subject; a custom subject names its parent`,
        `a fideslang subject (${list(taxonomy.subjects.keys(), 20)}), or a custom key with parent:`,
      );
    } else if (!taxonomy.subjects.has(s.parent) && !view.declared.subjects.has(s.parent)) {
      push(
        [...path, 'parent'],
        `the parent "${s.parent}" is not a fideslang or declared subject`,
        list(taxonomy.subjects.keys(), 20),
      );
    }
    if (s.parent && !s.name)
      push(path, `the custom subject "${s.key}" needs a name`, 'name: <words>');
  }

  const allCategories = new Set([...taxonomy.categories.keys(), ...view.declared.categories]);
  const parentOf = new Map(view.categories.map((c) => [c.value.key, c.value.parent]));
  // A custom key inherits specialness from the fideslang key it extends.
  const rootOf = (key: string): string => {
    let current = key;
    for (let depth = 0; depth < 20 && !taxonomy.categories.has(current); depth++) {
      const parent = parentOf.get(current);
      if (!parent) break;
      current = parent;
    }
    return current;
  };
  for (const { value: c, path } of view.categories) {
    if (!taxonomy.categories.has(c.key)) {
      if (!c.parent) {
        push(
          [...path, 'key'],
          `"${c.key}" is not a fideslang data category; a custom category names its parent`,
          'a fideslang key such as user.contact.email, or a custom key with parent: <existing key>',
        );
      } else if (!allCategories.has(c.parent)) {
        push(
          [...path, 'parent'],
          `the parent "${c.parent}" is not a fideslang or declared category`,
          'a fideslang category key (user.contact, user.workplace, ...) or one declared here',
        );
      } else if (!c.key.startsWith(`${c.parent}.`)) {
        push([...path, 'key'], `a custom key extends its parent's path`, `${c.parent}.<name>`);
      }
      if (c.parent && !c.name)
        push(path, `the custom category "${c.key}" needs a name`, 'name: <words people read>');
    }
    const special = isUnderAny(rootOf(c.key), article9Roots) || c.special !== undefined;
    if (special && !c.special?.condition) {
      push(
        c.special ? [...path, 'special'] : path,
        `"${c.key}" is special category data (GDPR Art. 9) and needs the condition relied on`,
        'special: { article9: true, condition: explicit_consent | employment_social_security | vital_interests | not_for_profit_body | made_public_by_subject | legal_claims | substantial_public_interest | health_or_social_care | public_health | archiving_research_statistics }',
      );
    }
  }

  for (const { value: p, path } of view.purposes) {
    p.uses.forEach((use, i) => {
      if (!taxonomy.uses.has(use))
        push(
          [...path, 'uses', i],
          `"${use}" is not a fideslang data use`,
          list(taxonomy.uses.keys(), 60),
        );
    });
    refs(p.categories, [...path, 'categories'], view.declared.categories, 'category', 'categories');
    refs(p.subjects, [...path, 'subjects'], view.declared.subjects, 'subject', 'subjects');
    refs(
      p.recipients,
      [...path, 'recipients'],
      view.declared.recipients,
      'recipient',
      'recipients',
    );
    if (p.retention && !view.declared.rules.has(p.retention))
      push(
        [...path, 'retention'],
        `the retention rule "${p.retention}" is not declared in retention.rules`,
        list(view.declared.rules),
      );
    const all = bases(p);
    if (all.includes('legitimate_interests') && !p.legitimateInterest)
      push(
        path,
        `purpose "${p.key}" relies on legitimate interests but does not say which interest and how it was balanced`,
        'legitimateInterest: { interest: <words>, balancing: <words> }',
      );
    if (all.includes('consent') && p.consent?.withdrawable === false)
      push(
        [...path, 'consent', 'withdrawable'],
        `purpose "${p.key}" relies on consent, which must be withdrawable at any time (Art. 7(3))`,
        'true',
      );
    const validFor = p.consent?.validFor;
    if (validFor && !all.includes('consent'))
      push(
        [...path, 'consent', 'validFor'],
        `purpose "${p.key}" does not rely on consent, so its consent cannot expire`,
        'remove validFor, or make consent one of its legal bases',
      );
    if (validFor && durationInWords(validFor) === undefined)
      push(
        [...path, 'consent', 'validFor'],
        'consent that lasts no time at all would expire as soon as it is given',
        'a duration longer than zero, such as P13M',
      );
    if (p.basisCondition && p.basisCondition.otherwise === p.legalBasis)
      push(
        [...path, 'basisCondition', 'otherwise'],
        'the fallback basis is the same as legalBasis',
        'a different legal basis',
      );
    if (p.directMarketing && !p.objectionStops)
      push(
        [...path, 'objectionStops'],
        `purpose "${p.key}" is direct marketing; an objection always stops it (Art. 21(3))`,
        'true',
      );
  }

  for (const { value: r, path } of view.recipients) {
    refs(r.categories, [...path, 'categories'], view.declared.categories, 'category', 'categories');
    const outside = r.countries.filter(outsideEea);
    if (outside.length > 0 && (!r.safeguard || r.safeguard === 'eea')) {
      push(
        r.safeguard ? [...path, 'safeguard'] : path,
        `recipient "${r.key}" receives data outside the EEA (${outside.join(', ')}) and needs a transfer safeguard`,
        'safeguard: adequacy | scc | bcr | derogation',
      );
    }
    if (r.safeguard === 'adequacy') {
      const without = outside.filter((c) => !adequacyCountries.has(c));
      if (without.length > 0)
        push(
          [...path, 'safeguard'],
          `no EU adequacy decision covers ${without.join(', ')}`,
          `adequacy for ${list(adequacyCountries, 20)}; otherwise scc, bcr or derogation`,
        );
    }
    if (r.safeguard === 'derogation' && !r.safeguardNote)
      push(path, 'a derogation (Art. 49) names which one and why', 'safeguardNote: <words>');
  }

  for (const { value: rule, path } of view.rules) {
    if (rule.categories.length === 0 && rule.purposes.length === 0)
      push(
        path,
        `retention rule "${rule.key}" applies to nothing`,
        'categories: [...] and/or purposes: [...]',
      );
    refs(
      rule.categories,
      [...path, 'categories'],
      view.declared.categories,
      'category',
      'categories',
    );
    refs(rule.purposes, [...path, 'purposes'], view.declared.purposes, 'purpose', 'purposes');
  }
  for (const { value: keep, path } of view.keeps)
    refs(
      keep.categories,
      [...path, 'categories'],
      view.declared.categories,
      'category',
      'categories',
    );
  for (const { value: k, path } of view.auditLogKeeps)
    if (!view.declared.categories.has(k))
      push(path, `category "${k}" is not declared in categories`, list(view.declared.categories));

  if (view.rights) {
    const { value: r, path } = view.rights;
    const usesConsent = view.purposes.some((p) => bases(p.value).includes('consent'));
    if (usesConsent && !r.available.includes('withdraw_consent'))
      push(
        [...path, 'available'],
        'some purposes rely on consent, so people must be told they can withdraw it',
        'add withdraw_consent',
      );
    if (r.restrictionGrounds.length > 0 && !r.available.includes('restriction'))
      push(
        [...path, 'available'],
        'restriction grounds are listed but restriction is not a right offered',
        'add restriction',
      );
    if (r.extension.allowed && !r.extension.duration)
      push(
        [...path, 'extension'],
        'an allowed extension says how long',
        'duration: P2M (at most two further months, Art. 12(3))',
      );
    r.channels.forEach((c, i) => {
      if ((c.type === 'email' || c.type === 'postal') && !c.address)
        push(
          [...path, 'channels', i],
          `a ${c.type} channel needs its address`,
          'address: <where to write>',
        );
      if (c.type === 'email' && c.address && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(c.address))
        push([...path, 'channels', i, 'address'], 'is not an e-mail address', 'name@example.com');
    });
  }
  return problems;
}
