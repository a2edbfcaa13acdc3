import { z } from 'zod';
import { durationAllowed, parseDuration } from './duration.js';

/**
 * The register: a tenant's privacy policy as code. This zod schema is the one
 * definition of the format. The JSON Schema the repo ships
 * (schemas/register.schema.json) and GET /v1/register/schema serve are generated
 * from it, and every other domain reads the register through the types below.
 *
 * Objects are strict: an unknown field is an error, so a typo ("legalbasis") is
 * reported rather than silently ignored. Cross-references (a purpose naming a
 * category, a rule naming a purpose) are checked in validate.ts, which also
 * reports YAML line and column.
 */

const key = z
  .string()
  .regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/, 'a key: lower case letters, digits, _ and dots')
  .describe('A key: lower case letters, digits and _, dotted for taxonomy paths');
const text = z.string().trim().min(1);
const duration = z
  .string()
  .refine((value) => parseDuration(value) !== undefined, {
    message: 'is not an ISO 8601 duration',
    params: { allowed: durationAllowed },
  })
  .describe(durationAllowed);
const country = z
  .string()
  .regex(/^([A-Z]{2}|EEA|ANY)$/, 'an ISO 3166-1 alpha-2 code (FI, US), EEA or ANY')
  .describe(
    'ISO 3166-1 alpha-2 country code; EEA for "somewhere in the EU/EEA"; ANY for "possibly outside the EU/EEA"',
  );
const email = z.email();

export const legalBases = [
  'consent',
  'contract',
  'legal_obligation',
  'vital_interests',
  'public_task',
  'legitimate_interests',
] as const;
export const sourceTypes = [
  'subject',
  'contracting_party',
  'automatic',
  'public_source',
  'third_party',
] as const;
export const recipientRoles = ['processor', 'controller', 'authority'] as const;
export const safeguards = ['eea', 'adequacy', 'scc', 'bcr', 'derogation'] as const;
export const cookieCategories = ['necessary', 'functional', 'analytics', 'marketing'] as const;
export const retentionTriggers = [
  'collected',
  'last_activity',
  'contract_end',
  'relationship_end',
  'consent_withdrawn',
  'account_deleted',
  'role_ended',
  'purpose_fulfilled',
  'objection',
] as const;
export const retentionActions = ['delete', 'pseudonymize', 'anonymize'] as const;
export const rights = [
  'access',
  'rectification',
  'erasure',
  'restriction',
  'objection',
  'portability',
  'withdraw_consent',
  'automated_decision_review',
  'complaint',
] as const;
export const verificationMethods = [
  'email_code',
  'authenticated_session',
  'identifying_information',
  'controller_authorisation',
] as const;
export const channelTypes = ['email', 'privacy_center', 'api', 'postal', 'web_form'] as const;
export const dataForms = ['clear', 'hashed', 'pseudonymised', 'anonymised', 'aggregated'] as const;
/** GDPR Art. 9(2) (a)-(j): the condition that lifts the ban on special-category data. */
export const article9Conditions = [
  'explicit_consent',
  'employment_social_security',
  'vital_interests',
  'not_for_profit_body',
  'made_public_by_subject',
  'legal_claims',
  'substantial_public_interest',
  'health_or_social_care',
  'public_health',
  'archiving_research_statistics',
] as const;
/** GDPR Art. 18(1) (a)-(d). */
export const restrictionGrounds = [
  'accuracy_contested',
  'unlawful_processing',
  'legal_claims',
  'objection_pending',
] as const;
/** What must hold for a purpose's main legal basis; otherwise its fallback basis applies. */
export const basisConditions = ['customer_relationship', 'contract_active', 'role_held'] as const;

export type LegalBasis = (typeof legalBases)[number];
export type SourceType = (typeof sourceTypes)[number];
export type RecipientRole = (typeof recipientRoles)[number];
export type Safeguard = (typeof safeguards)[number];
export type CookieCategory = (typeof cookieCategories)[number];
export type RetentionTrigger = (typeof retentionTriggers)[number];
export type RetentionAction = (typeof retentionActions)[number];
export type Right = (typeof rights)[number];
export type VerificationMethod = (typeof verificationMethods)[number];
export type ChannelType = (typeof channelTypes)[number];
export type DataForm = (typeof dataForms)[number];
export type Article9Condition = (typeof article9Conditions)[number];
export type RestrictionGround = (typeof restrictionGrounds)[number];
export type BasisCondition = (typeof basisConditions)[number];

const contact = z.strictObject({
  name: text.optional(),
  email: email.optional(),
  phone: text.optional(),
  url: z.url().optional(),
  address: text.optional(),
});

export const organisationSchema = z.strictObject({
  name: text,
  businessId: text.optional().describe('Business or company registration id'),
  address: text.optional(),
  website: z.url().optional(),
  privacyContact: contact.describe('Where people reach the privacy team'),
  dpo: contact.optional().describe('The data protection officer, when one is appointed'),
  supervisoryAuthority: z.strictObject({
    name: text,
    url: z.url(),
    country: country.optional(),
  }),
  roles: z
    .array(
      z.strictObject({
        role: z.enum(['controller', 'processor']),
        scope: text.describe('What data this role covers, in words'),
        requestsRouting: z
          .enum(['handle', 'route_to_controller'])
          .default('handle')
          .describe('As a processor: requests about a customer’s users go to that customer'),
        note: text.optional(),
      }),
    )
    .min(1),
});

export const policySchema = z.strictObject({
  title: text.optional(),
  version: text.describe('A version label people see, e.g. 2023-07-26 or 18'),
  effective: z.iso.date().describe('The date this version takes effect, YYYY-MM-DD'),
  language: z
    .string()
    .regex(/^[a-z]{2}(-[A-Z]{2})?$/, 'a BCP 47 language tag such as en or en-GB')
    .default('en'),
  changes: text.optional().describe('How people are told about changes'),
});

export const subjectSchema = z.strictObject({
  key,
  parent: key.optional().describe('For a custom key: the fideslang subject it specialises'),
  name: text.optional(),
  description: text.optional(),
});

export const categorySchema = z.strictObject({
  key,
  parent: key.optional().describe('For a custom key: an existing category key it extends'),
  name: text.optional().describe('Display name; defaults to the fideslang name'),
  group: text.optional().describe('Heading the policy groups it under, e.g. "Profile information"'),
  description: text.optional().describe('Examples in words'),
  form: z.enum(dataForms).default('clear').describe('How it is held, e.g. anonymised IP'),
  special: z
    .strictObject({
      article9: z.literal(true),
      condition: z.enum(article9Conditions).optional(),
      note: text.optional(),
    })
    .optional()
    .describe('Special category data (Art. 9) and the condition relied on'),
  children: z.boolean().default(false).describe('Data about children'),
});

const source = z
  .union([
    z.enum(sourceTypes),
    z.strictObject({
      type: z.enum(sourceTypes),
      description: text.optional(),
      referenceRecorded: z
        .boolean()
        .default(false)
        .describe('The source of each record is kept with it'),
    }),
  ])
  .transform((value) =>
    typeof value === 'string' ? { type: value, referenceRecorded: false } : value,
  );

export const purposeSchema = z.strictObject({
  key,
  name: text,
  description: text.optional(),
  uses: z.array(key).min(1).describe('fideslang data use keys'),
  legalBasis: z.enum(legalBases),
  legitimateInterest: z
    .strictObject({ interest: text, balancing: text })
    .optional()
    .describe('Required when the basis (or the fallback) is legitimate_interests'),
  basisCondition: z
    .strictObject({
      when: z.enum(basisConditions),
      description: text.optional(),
      otherwise: z.enum(legalBases),
    })
    .optional()
    .describe('legalBasis applies while `when` holds; `otherwise` applies when it does not'),
  additionalBases: z.array(z.enum(legalBases)).default([]),
  consent: z
    .strictObject({
      withdrawable: z.boolean().default(true),
      text: text.optional().describe('What the person is asked'),
      validFor: duration
        .optional()
        .describe(
          'How long consent lasts once given (e.g. P13M); then it expires and the person is asked again',
        ),
    })
    .optional(),
  categories: z.array(key).min(1),
  subjects: z.array(key).min(1),
  sources: z.array(source).min(1),
  retention: key.optional().describe('Key of the retention rule that applies'),
  recipients: z.array(key).default([]),
  directMarketing: z.boolean().default(false),
  objectionStops: z.boolean().default(false).describe('An objection (Art. 21) stops this purpose'),
  gpcStops: z.boolean().default(false).describe('A Global Privacy Control signal stops it'),
  optOut: z
    .array(z.enum(['unsubscribe_link', 'account_settings', 'contact']))
    .default([])
    .describe('How people opt out of it'),
  automatedDecisions: z
    .strictObject({ description: text, significantEffect: z.boolean(), optOut: z.boolean() })
    .optional(),
});

export const recipientSchema = z.strictObject({
  key,
  name: text.describe('A named recipient, or a category of recipients'),
  named: z.boolean().default(false).describe('true for one named company, false for a category'),
  description: text.optional(),
  role: z.enum(recipientRoles),
  countries: z.array(country).min(1),
  safeguard: z.enum(safeguards).optional().describe('Required for any country outside the EEA'),
  safeguardNote: text.optional().describe('Required for derogation'),
  categories: z.array(key).default([]).describe('Data categories it receives'),
  form: z.enum(dataForms).default('clear').describe('How the data reaches it, e.g. hashed'),
});

export const storageSchema = z.strictObject({
  key,
  description: text,
  region: text.optional(),
  countries: z.array(country).min(1),
  encryptedAtRest: z.boolean().default(false),
});

export const cookieSchema = z.strictObject({
  name: text,
  provider: text,
  category: z.enum(cookieCategories),
  purpose: text,
  lifetime: z.union([duration, z.literal('session')]),
  party: z.enum(['first', 'third']),
});

export const retentionRuleSchema = z.strictObject({
  key,
  name: text.optional(),
  categories: z.array(key).default([]),
  purposes: z.array(key).default([]),
  duration: duration.describe('How long after the trigger; P0D means at the trigger'),
  trigger: z.enum(retentionTriggers),
  earlierTriggers: z
    .array(z.enum(retentionTriggers))
    .default([])
    .describe('Events that end the period sooner (whichever comes first)'),
  action: z.enum(retentionActions),
  alternativeAction: z
    .enum(retentionActions)
    .optional()
    .describe('Used when the action would lose other data, e.g. pseudonymize instead of delete'),
  note: text.optional(),
});

export const statutoryKeepSchema = z.strictObject({
  key,
  categories: z.array(key).min(1),
  law: text.describe('The law that requires keeping it'),
  duration,
  trigger: z.enum(retentionTriggers),
});

export const auditLogSchema = z.strictObject({
  duration,
  keeps: z.array(key).default([]).describe('Categories kept as long as the audit log needs them'),
});

export const retentionSchema = z.strictObject({
  rules: z.array(retentionRuleSchema).default([]),
  statutoryKeeps: z.array(statutoryKeepSchema).default([]),
  auditLog: auditLogSchema.optional(),
  backups: z
    .strictObject({ duration: duration.describe('Deleted data leaves backups within this') })
    .optional(),
});

const channel = z.strictObject({
  type: z.enum(channelTypes),
  address: text.optional().describe('E-mail or postal address, or URL'),
  note: text.optional(),
});

export const rightsSectionSchema = z.strictObject({
  available: z.array(z.enum(rights)).min(1),
  deadline: duration.describe('P1M is one calendar month; P30D thirty days; P14D two weeks'),
  extension: z
    .strictObject({ allowed: z.boolean(), duration: duration.optional(), note: text.optional() })
    .default({ allowed: false }),
  verification: z.array(z.enum(verificationMethods)).min(1),
  channels: z.array(channel).min(1),
  restrictionGrounds: z.array(z.enum(restrictionGrounds)).default([]),
  erasureMethods: z.array(z.enum(['delete', 'pseudonymize'])).default(['delete']),
  exportFormats: z.array(z.enum(['json', 'csv'])).default(['json']),
  note: text.optional(),
});

export const registerSchema = z
  .strictObject({
    avow: z.literal(1).describe('Register format version'),
    policy: policySchema,
    organisation: organisationSchema,
    subjects: z.array(subjectSchema).min(1),
    categories: z.array(categorySchema).min(1),
    purposes: z.array(purposeSchema).min(1),
    recipients: z.array(recipientSchema).default([]),
    storage: z.array(storageSchema).default([]),
    cookies: z.array(cookieSchema).default([]),
    cookieConsent: z
      .strictObject({
        requiredFor: z
          .array(z.enum(cookieCategories))
          .default(['functional', 'analytics', 'marketing']),
        note: text.optional(),
      })
      .default({ requiredFor: ['functional', 'analytics', 'marketing'] }),
    retention: retentionSchema,
    rights: rightsSectionSchema,
    security: z.strictObject({ measures: z.array(text).min(1) }),
  })
  .meta({
    title: 'Avow register',
    description: 'A privacy policy as code; see docs/register.md',
  });

/** A validated register, with defaults applied. */
export type Register = z.output<typeof registerSchema>;
/** A register as written (defaults not yet applied, shorthands allowed). */
export type RegisterInput = z.input<typeof registerSchema>;
export type Organisation = Register['organisation'];
export type PolicyMeta = Register['policy'];
export type Subject = Register['subjects'][number];
export type Category = Register['categories'][number];
export type Purpose = Register['purposes'][number];
export type Source = Purpose['sources'][number];
export type Recipient = Register['recipients'][number];
export type Storage = Register['storage'][number];
export type Cookie = Register['cookies'][number];
export type Retention = Register['retention'];
export type RetentionRule = Retention['rules'][number];
export type StatutoryKeep = Retention['statutoryKeeps'][number];
export type Rights = Register['rights'];
export type Channel = Rights['channels'][number];

/** The JSON Schema of the register as written (shorthands allowed, defaults optional). */
export function registerJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(registerSchema, { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;
}

export function registerJsonSchemaText(): string {
  return `${JSON.stringify(registerJsonSchema(), null, 2)}\n`;
}
