import { stringify } from 'csv-stringify/sync';
import type { Register } from './register-schema.js';
import { outsideEea } from './rules.js';
import {
  basisInWords,
  categoryName,
  countryInWords,
  indexOf,
  retentionInWords,
  safeguardWords,
  sourceWords,
  subjectName,
} from './words.js';

/** One processing activity (a purpose), with what GDPR Art. 30(1) asks a controller to record. */
export type ProcessingActivity = {
  purpose: string;
  name: string;
  description: string;
  legalBasis: string;
  legalBasisText: string;
  dataSubjects: string[];
  dataCategories: string[];
  specialCategories: string[];
  sources: string[];
  recipients: string[];
  transfers: string[];
  retention: string;
  directMarketing: boolean;
};

export type RecordOfProcessing = {
  controller: { name: string; businessId?: string; address?: string; contact: string };
  dpo: string | null;
  version: string;
  effective: string;
  securityMeasures: string[];
  activities: ProcessingActivity[];
};

const contactText = (c: {
  name?: string;
  email?: string;
  phone?: string;
  address?: string;
  url?: string;
}) => [c.name, c.email, c.phone, c.address, c.url].filter(Boolean).join(', ');

export function recordOfProcessing(register: Register): RecordOfProcessing {
  const ix = indexOf(register);
  const org = register.organisation;
  return {
    controller: {
      name: org.name,
      ...(org.businessId ? { businessId: org.businessId } : {}),
      ...(org.address ? { address: org.address } : {}),
      contact: contactText(org.privacyContact),
    },
    dpo: org.dpo ? contactText(org.dpo) : null,
    version: register.policy.version,
    effective: register.policy.effective,
    securityMeasures: register.security.measures,
    activities: register.purposes.map((p) => {
      const recipients = p.recipients.flatMap((k) => ix.recipient.get(k) ?? []);
      const rule = p.retention ? ix.rule.get(p.retention) : undefined;
      return {
        purpose: p.key,
        name: p.name,
        description: p.description ?? '',
        legalBasis: p.legalBasis,
        legalBasisText: basisInWords(p),
        dataSubjects: p.subjects.map((k) => `${subjectName(ix.subject.get(k), k)} (${k})`),
        dataCategories: p.categories.map((k) => `${categoryName(ix.category.get(k), k)} (${k})`),
        specialCategories: p.categories.filter((k) => ix.category.get(k)?.special),
        sources: p.sources.map(
          (s) => sourceWords[s.type] + (s.description ? ` (${s.description})` : ''),
        ),
        recipients: recipients.map((r) => `${r.name} (${r.role})`),
        transfers: recipients
          .filter((r) => r.countries.some(outsideEea))
          .map(
            (r) =>
              `${r.name}: ${r.countries.filter(outsideEea).map(countryInWords).join(', ')}; ${r.safeguard ? safeguardWords[r.safeguard] : 'no safeguard'}`,
          ),
        retention: rule ? `${retentionInWords(rule)} (${rule.duration} after ${rule.trigger})` : '',
        directMarketing: p.directMarketing,
      };
    }),
  };
}

/** One row per processing activity; list fields joined with "; ". */
export function recordOfProcessingCsv(record: RecordOfProcessing): string {
  const columns = [
    'controller',
    'controller_contact',
    'dpo',
    'purpose',
    'name',
    'description',
    'legal_basis',
    'legal_basis_text',
    'data_subjects',
    'data_categories',
    'special_categories',
    'sources',
    'recipients',
    'transfers_outside_eea',
    'retention',
    'direct_marketing',
    'security_measures',
  ];
  const rows = record.activities.map((a) => [
    record.controller.name,
    record.controller.contact,
    record.dpo ?? '',
    a.purpose,
    a.name,
    a.description,
    a.legalBasis,
    a.legalBasisText,
    a.dataSubjects.join('; '),
    a.dataCategories.join('; '),
    a.specialCategories.join('; '),
    a.sources.join('; '),
    a.recipients.join('; '),
    a.transfers.join('; '),
    a.retention,
    a.directMarketing ? 'yes' : 'no',
    record.securityMeasures.join('; '),
  ]);
  // A cell starting with = + - @ would run as a formula in a spreadsheet.
  const cast = { string: (v: string) => (/^[=+\-@]/.test(v) ? `'${v}` : v) };
  return stringify(rows, { header: true, columns, cast });
}
