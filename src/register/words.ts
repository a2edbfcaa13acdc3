import { durationInWords } from './duration.js';
import type {
  Category,
  LegalBasis,
  Purpose,
  Recipient,
  Register,
  RetentionTrigger,
  Safeguard,
  SourceType,
  Subject,
} from './register-schema.js';
import { fideslang } from './taxonomy.js';

/** The register's values in the words a privacy policy uses. */

export const basisWords: Record<LegalBasis, string> = {
  consent: 'your consent (GDPR Art. 6(1)(a)), which you can withdraw at any time',
  contract: 'performance of a contract (Art. 6(1)(b))',
  legal_obligation: 'a legal obligation (Art. 6(1)(c))',
  vital_interests: 'vital interests (Art. 6(1)(d))',
  public_task: 'a task carried out in the public interest (Art. 6(1)(e))',
  legitimate_interests: 'our legitimate interests (Art. 6(1)(f))',
};

export const sourceWords: Record<SourceType, string> = {
  subject: 'from you',
  contracting_party: 'from your employer or the organisation that contracts with us',
  automatic: 'collected automatically when you use our services',
  public_source: 'from public sources',
  third_party: 'from third parties',
};

const triggerEvent: Record<RetentionTrigger, string> = {
  collected: 'it is collected',
  last_activity: 'your last activity',
  contract_end: 'the contract with the contracting party ends',
  relationship_end: 'the customer relationship ends',
  consent_withdrawn: 'you withdraw your consent',
  account_deleted: 'the account is deleted',
  role_ended: 'you no longer hold the role',
  purpose_fulfilled: 'the purpose is fulfilled',
  objection: 'you object',
};

export const safeguardWords: Record<Safeguard, string> = {
  eea: 'stays within the EU/EEA',
  adequacy: 'EU adequacy decision (Art. 45)',
  scc: 'EU Standard Contractual Clauses (Art. 46)',
  bcr: 'binding corporate rules (Art. 47)',
  derogation: 'derogation for a specific situation (Art. 49)',
};

export const rightWords: Record<string, string> = {
  access: 'Access: get a copy of your personal data.',
  rectification: 'Rectification: have inaccurate data corrected and incomplete data completed.',
  erasure: 'Erasure: have your personal data erased, under certain conditions.',
  restriction:
    'Restriction: have the processing of your data restricted, under certain conditions.',
  objection:
    'Objection: object to processing based on legitimate interests, and to direct marketing at any time.',
  portability:
    'Portability: receive the data you gave us in a structured, machine-readable format, or have it sent to another controller.',
  withdraw_consent:
    'Withdraw consent: withdraw any consent you gave, at any time, as easily as you gave it.',
  automated_decision_review:
    'Human review: not be subject to a decision based solely on automated processing, and have such a decision reviewed by a person.',
  complaint: 'Complaint: complain to a data protection supervisory authority.',
};

export const verificationWords: Record<string, string> = {
  email_code: 'a one-time code sent to your e-mail address',
  authenticated_session: 'your signed-in session',
  identifying_information: 'identifying information that lets us find you in our systems',
  controller_authorisation:
    'for requests made on behalf of a customer, proof of authority and the original request',
};

export const restrictionWords: Record<string, string> = {
  accuracy_contested: 'you contest the accuracy of your data, while we verify it',
  unlawful_processing: 'the processing is unlawful but you do not want the data erased',
  legal_claims: 'you need the data to establish, exercise or defend a legal claim',
  objection_pending: 'you have objected and we are verifying whether our grounds override yours',
};

export const article9Words: Record<string, string> = {
  explicit_consent: 'your explicit consent',
  employment_social_security: 'obligations in employment and social security law',
  vital_interests: 'vital interests',
  not_for_profit_body: 'the activities of a not-for-profit body',
  made_public_by_subject: 'the data was made public by you',
  legal_claims: 'legal claims',
  substantial_public_interest: 'substantial public interest',
  health_or_social_care: 'health or social care',
  public_health: 'public health',
  archiving_research_statistics: 'archiving, research or statistics',
};

const actionWords = { delete: 'deleted', pseudonymize: 'pseudonymised', anonymize: 'anonymised' };

/** "ten years after the customer relationship ends", "when the contract ... ends". */
export function periodInWords(duration: string, trigger: RetentionTrigger): string {
  const words = durationInWords(duration);
  const event = triggerEvent[trigger];
  return words ? `${words} after ${event}` : `when ${event}`;
}

export function retentionInWords(rule: {
  duration: string;
  trigger: RetentionTrigger;
  action: keyof typeof actionWords;
  earlierTriggers?: RetentionTrigger[];
  alternativeAction?: keyof typeof actionWords | undefined;
}): string {
  let out = `${actionWords[rule.action]} ${periodInWords(rule.duration, rule.trigger)}`;
  if (rule.earlierTriggers && rule.earlierTriggers.length > 0)
    out += `, or earlier when ${rule.earlierTriggers.map((t) => triggerEvent[t]).join(' or ')}`;
  if (rule.alternativeAction)
    out += `; ${actionWords[rule.alternativeAction]} instead where deletion would lose other data`;
  return out;
}

/** "within one calendar month", "within 30 days". */
export function deadlineInWords(duration: string): string {
  return `within ${durationInWords(duration) ?? 'the same day'}`;
}

let regionNames: Intl.DisplayNames | undefined;
export function countryInWords(code: string): string {
  if (code === 'EEA') return 'the EU/EEA';
  if (code === 'ANY') return 'countries outside the EU/EEA';
  regionNames ??= new Intl.DisplayNames(['en'], { type: 'region' });
  return regionNames.of(code) ?? code;
}

export function dateInWords(isoDate: string): string {
  return new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'UTC' }).format(
    new Date(`${isoDate}T00:00:00Z`),
  );
}

// fideslang's own names read as labels ("User Contact Email"); a policy reads better.
const friendlier: Record<string, string> = {
  'user.contact.email': 'E-mail address',
  'user.contact.phone_number': 'Phone number',
  'user.contact.address': 'Address',
  'user.contact.url': 'Website',
  'user.account.username': 'Username',
};

export function categoryName(category: Category | undefined, key: string): string {
  if (category?.name) return category.name;
  const known = friendlier[key] ?? fideslang().categories.get(key)?.name;
  return known ? known.replace(/^User Contact /, '').replace(/^User /, '') : key;
}

export function subjectName(subject: Subject | undefined, key: string): string {
  return subject?.name ?? fideslang().subjects.get(key)?.name ?? key;
}

export function basisInWords(purpose: Purpose): string {
  let out = basisWords[purpose.legalBasis];
  if (purpose.basisCondition) {
    const when =
      purpose.basisCondition.description ?? purpose.basisCondition.when.replace(/_/g, ' ');
    out = `${out} when ${when}; otherwise ${basisWords[purpose.basisCondition.otherwise]}`;
  }
  if (purpose.additionalBases.length > 0)
    out += `; also ${purpose.additionalBases.map((b) => basisWords[b]).join(' and ')}`;
  const lasts = purpose.consent?.validFor ? durationInWords(purpose.consent.validFor) : undefined;
  if (lasts) out += `; your consent lasts ${lasts}, and then we ask again`;
  return `${out.charAt(0).toUpperCase()}${out.slice(1)}`;
}

export function recipientWhere(recipient: Recipient): string {
  return recipient.countries.map(countryInWords).join(', ');
}

/** Lookups by key, built once per render. */
export function indexOf(register: Register) {
  return {
    category: new Map(register.categories.map((c) => [c.key, c])),
    subject: new Map(register.subjects.map((s) => [s.key, s])),
    purpose: new Map(register.purposes.map((p) => [p.key, p])),
    recipient: new Map(register.recipients.map((r) => [r.key, r])),
    rule: new Map(register.retention.rules.map((r) => [r.key, r])),
  };
}
