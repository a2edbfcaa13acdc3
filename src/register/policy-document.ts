import { durationInWords } from './duration.js';
import type { Register } from './register-schema.js';
import { outsideEea } from './rules.js';
import {
  article9Words,
  basisInWords,
  categoryName,
  countryInWords,
  dateInWords,
  deadlineInWords,
  indexOf,
  periodInWords,
  recipientWhere,
  restrictionWords,
  retentionInWords,
  rightWords,
  safeguardWords,
  sourceWords,
  subjectName,
  verificationWords,
} from './words.js';

/**
 * The privacy policy as a small document model, built once from the register
 * and written out as HTML or Markdown, so both say exactly the same.
 */
export type Inline = string | { text: string; href: string };
export type Text = Inline[];
export type Block =
  | { kind: 'p'; text: Text }
  | { kind: 'list'; items: Text[] }
  | { kind: 'table'; caption: string; head: string[]; rows: Text[][] }
  | { kind: 'h3'; text: string };
export type Section = { id: string; title: string; blocks: Block[] };
export type PolicyDocument = { title: string; lang: string; subtitle: string; sections: Section[] };

const trimDot = (s: string) => s.replace(/[.\s]+$/, '');
const capitalise = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}`;
const p = (...text: Inline[]): Block => ({ kind: 'p', text });
const list = (items: Text[]): Block => ({ kind: 'list', items });
const mail = (address: string): Inline => ({ text: address, href: `mailto:${address}` });
const web = (url: string, text = url): Inline => ({ text, href: url });

function contactLines(c: Register['organisation']['privacyContact']): Text[] {
  const lines: Text[] = [];
  if (c.name) lines.push([c.name]);
  if (c.email) lines.push(['E-mail: ', mail(c.email)]);
  if (c.phone) lines.push([`Phone: ${c.phone}`]);
  if (c.address) lines.push([`Post: ${c.address}`]);
  if (c.url) lines.push(['Web: ', web(c.url)]);
  return lines;
}

export function buildPolicy(register: Register): PolicyDocument {
  const r = register;
  const ix = indexOf(r);
  const org = r.organisation;
  const sections: Section[] = [];
  const cat = (key: string) => categoryName(ix.category.get(key), key);
  const purposesUsing = (key: string) => r.purposes.filter((pu) => pu.categories.includes(key));

  // Who we are
  const who: Block[] = [
    p(
      `${org.name}${org.businessId ? ` (business ID ${org.businessId})` : ''}${org.address ? `, ${org.address},` : ''} is responsible for the personal data described in this policy.`,
    ),
    list(
      org.roles.map((role) => [
        role.role === 'controller'
          ? `As controller: ${role.scope}`
          : `As processor: ${role.scope}${role.requestsRouting === 'route_to_controller' ? ' For this data the customer is the controller; we pass requests about it to that customer.' : ''}`,
        ...(role.note ? [` ${role.note}`] : []),
      ]),
    ),
    { kind: 'h3', text: 'How to reach us' },
    list(contactLines(org.privacyContact)),
  ];
  if (org.website) who.push(p('Website: ', web(org.website)));
  if (org.dpo) {
    who.push({ kind: 'h3', text: 'Data protection officer' }, list(contactLines(org.dpo)));
  }
  sections.push({ id: 'who-we-are', title: 'Who we are and how to reach us', blocks: who });

  // What we collect
  const collect: Block[] = [
    p('Whose data: ', r.subjects.map((s) => subjectName(s, s.key)).join('; '), '.'),
  ];
  const groups = new Map<string, Register['categories']>();
  for (const c of r.categories) {
    const group = c.group ?? 'Other data';
    groups.set(group, [...(groups.get(group) ?? []), c]);
  }
  for (const [group, categories] of groups) {
    collect.push({ kind: 'h3', text: group });
    collect.push(
      list(
        categories.map((c) => {
          let line = cat(c.key);
          if (c.description) line += `: ${trimDot(c.description)}`;
          if (c.form !== 'clear') line += ` (held ${c.form})`;
          if (c.special)
            line += `. This is special category data (GDPR Art. 9)${c.special.condition ? `, processed on the basis of ${article9Words[c.special.condition]}` : ''}${c.special.note ? `. ${c.special.note}` : ''}`;
          if (c.children) line += '. This includes data about children';
          return [line];
        }),
      ),
    );
    const sources = new Map<string, string>();
    for (const c of categories)
      for (const pu of purposesUsing(c.key))
        for (const s of pu.sources) {
          let words = sourceWords[s.type];
          if (s.description) words += ` (${trimDot(s.description)})`;
          if (s.referenceRecorded) words += ', and we record the source of each item';
          if (!sources.has(s.type) || s.description || s.referenceRecorded)
            sources.set(s.type, words);
        }
    if (sources.size > 0)
      collect.push(p(`Where it comes from: ${[...sources.values()].join('; ')}.`));
  }
  sections.push({ id: 'what-we-collect', title: 'What personal data we collect', blocks: collect });

  // Purposes and legal bases
  const purposeRows = r.purposes.map((pu): Text[] => {
    const rule = pu.retention ? ix.rule.get(pu.retention) : undefined;
    return [
      [pu.name, ...(pu.description ? [`. ${pu.description}`] : [])],
      [pu.categories.map(cat).join(', ')],
      [basisInWords(pu)],
      [rule ? retentionInWords(rule) : 'See "How long we keep your data"'],
    ];
  });
  const why: Block[] = [
    {
      kind: 'table',
      caption: 'Purposes, the data used and the legal basis',
      head: ['Purpose', 'Data used', 'Legal basis', 'How long'],
      rows: purposeRows,
    },
  ];
  const interests = r.purposes.filter((pu) => pu.legitimateInterest);
  if (interests.length > 0) {
    why.push({ kind: 'h3', text: 'Our legitimate interests' });
    why.push(
      list(
        interests.map((pu) => [
          `${pu.name}: ${pu.legitimateInterest?.interest} How we balanced it against your interests: ${pu.legitimateInterest?.balancing}`,
        ]),
      ),
    );
  }
  const marketing = r.purposes.filter((pu) => pu.directMarketing);
  if (marketing.length > 0) {
    why.push({ kind: 'h3', text: 'Direct marketing' });
    const optOut = new Set(marketing.flatMap((pu) => pu.optOut));
    const ways = [
      ...(optOut.has('unsubscribe_link') ? ['use the unsubscribe link in every message'] : []),
      ...(optOut.has('account_settings') ? ['change your account settings'] : []),
      ...(optOut.has('contact') || optOut.size === 0 ? ['contact us'] : []),
    ];
    why.push(
      p(
        `We use your data for direct marketing (${marketing.map((pu) => pu.name).join('; ')}). You can object to direct marketing at any time, free of charge, and we then stop. To opt out, ${ways.join(', or ')}.`,
      ),
    );
  }
  const gpc = r.purposes.filter((pu) => pu.gpcStops);
  if (gpc.length > 0)
    why.push(
      p(
        `A Global Privacy Control signal from your browser counts as an objection to: ${gpc.map((pu) => pu.name).join('; ')}.`,
      ),
    );
  const automated = r.purposes.filter((pu) => pu.automatedDecisions);
  if (automated.length > 0) {
    why.push({ kind: 'h3', text: 'Automated decisions' });
    why.push(
      list(
        automated.map((pu) => {
          const a = pu.automatedDecisions;
          return [
            `${a?.description} ${a?.significantEffect ? 'These decisions can significantly affect you; you can ask for a person to review them.' : 'These actions do not have legal or similarly significant effects on you.'}${a?.optOut ? ' You can opt out of them at any time.' : ''}`,
          ];
        }),
      ),
    );
  }
  sections.push({
    id: 'purposes',
    title: 'Why we use your data and on what legal basis',
    blocks: why,
  });

  // Recipients and transfers
  const share: Block[] = [];
  if (r.recipients.length === 0) {
    share.push(p('We do not disclose your personal data to anyone outside our organisation.'));
  } else {
    share.push({
      kind: 'table',
      caption: 'Recipients of personal data',
      head: ['Recipient', 'Role', 'Where', 'Safeguard', 'What they receive'],
      rows: r.recipients.map((rec): Text[] => {
        const purposes = r.purposes.filter((pu) => pu.recipients.includes(rec.key));
        const what =
          rec.categories.length > 0
            ? rec.categories.map(cat).join(', ')
            : purposes.length > 0
              ? `Data for: ${purposes.map((pu) => pu.name).join('; ')}`
              : 'As needed for the purposes above';
        return [
          [rec.name, ...(rec.description ? [`. ${rec.description}`] : [])],
          [
            rec.role === 'processor'
              ? 'Processes it on our behalf'
              : rec.role === 'controller'
                ? 'Uses it as a controller'
                : 'Public authority',
          ],
          [recipientWhere(rec)],
          [
            rec.safeguard ? safeguardWords[rec.safeguard] : 'stays within the EU/EEA',
            ...(rec.safeguardNote ? [`. ${rec.safeguardNote}`] : []),
          ],
          [`${what}${rec.form !== 'clear' ? ` (${rec.form})` : ''}`],
        ];
      }),
    });
    const transfers = r.recipients.filter((rec) => rec.countries.some(outsideEea));
    share.push(
      transfers.length > 0
        ? p(
            `Transfers outside the EU/EEA: ${transfers
              .map(
                (rec) =>
                  `${rec.name} (${rec.countries.filter(outsideEea).map(countryInWords).join(', ')}; ${rec.safeguard ? safeguardWords[rec.safeguard] : 'no safeguard'})`,
              )
              .join('; ')}. You can ask us for a copy of the safeguards.`,
          )
        : p('We do not transfer your personal data outside the EU/EEA.'),
    );
  }
  if (r.storage.length > 0) {
    share.push({ kind: 'h3', text: 'Where your data is stored' });
    share.push(
      list(
        r.storage.map((s) => [
          `${s.description} Location: ${s.countries.map(countryInWords).join(', ')}${s.region ? ` (region ${s.region})` : ''}.${s.encryptedAtRest ? ' Encrypted at rest.' : ''}`,
        ]),
      ),
    );
  }
  sections.push({ id: 'recipients', title: 'Who receives your data and transfers', blocks: share });

  // Retention
  const keep: Block[] = [];
  keep.push(
    list(
      r.retention.rules.map((rule) => {
        const applies = [
          ...rule.purposes.map((k) => ix.purpose.get(k)?.name ?? k),
          ...rule.categories.map(cat),
        ];
        return [
          `${rule.name ?? rule.key} (${applies.join('; ')}): ${retentionInWords(rule)}.${rule.note ? ` ${rule.note}` : ''}`,
        ];
      }),
    ),
  );
  if (r.retention.statutoryKeeps.length > 0) {
    keep.push({ kind: 'h3', text: 'Data we must keep by law' });
    keep.push(
      list(
        r.retention.statutoryKeeps.map((k) => [
          `${k.categories.map(cat).join(', ')}: kept ${periodInWords(k.duration, k.trigger)}, as required by ${k.law}. This data cannot be deleted on request before then.`,
        ]),
      ),
    );
  }
  const audit = r.retention.auditLog;
  if (audit)
    keep.push(
      p(
        `Audit logs (records of who accessed or changed personal data, and when) are kept for ${durationInWords(audit.duration) ?? 'no time'}${audit.keeps.length > 0 ? `, together with the data needed to make sense of them (${audit.keeps.map(cat).join(', ')})` : ''}, and then removed.`,
      ),
    );
  if (r.retention.backups)
    keep.push(
      p(
        `Deleted data is removed from our backups within ${durationInWords(r.retention.backups.duration) ?? 'the same day'}.`,
      ),
    );
  sections.push({ id: 'retention', title: 'How long we keep your data', blocks: keep });

  // Rights
  const rights = r.rights;
  const rightsBlocks: Block[] = [
    list(rights.available.map((right) => [rightWords[right] ?? right])),
    { kind: 'h3', text: 'How to use your rights' },
    list(
      rights.channels.map((ch): Text => {
        const note = ch.note ? ` (${ch.note})` : '';
        if (ch.type === 'email' && ch.address) return ['E-mail: ', mail(ch.address), note];
        if (ch.type === 'postal') return [`Post: ${ch.address ?? ''}${note}`];
        if (ch.type === 'privacy_center') return [`Our privacy center${note}`];
        if (ch.type === 'api') return [`Our API${note}`];
        return [ch.address ? `Web form: ${ch.address}${note}` : `Web form${note}`];
      }),
    ),
    p(
      `Before we act on a request we verify your identity, using ${rights.verification.map((v) => verificationWords[v]).join(', or ')}.`,
    ),
    p(
      `We answer ${deadlineInWords(rights.deadline)} of receiving your request.${rights.extension.allowed && rights.extension.duration ? ` Where requests are complex or numerous we may extend this by ${durationInWords(rights.extension.duration)}; we tell you within the first period, with the reason.` : ''}${rights.extension.note ? ` ${rights.extension.note}` : ''}`,
    ),
  ];
  if (rights.restrictionGrounds.length > 0)
    rightsBlocks.push(
      p('You can ask us to restrict processing when:'),
      list(rights.restrictionGrounds.map((g) => [restrictionWords[g] ?? g])),
    );
  if (rights.available.includes('erasure'))
    rightsBlocks.push(
      p(
        rights.erasureMethods.includes('pseudonymize')
          ? 'We erase data by deleting it, or by pseudonymising it where deletion would lose other data.'
          : 'We erase data by deleting it.',
        r.retention.statutoryKeeps.length > 0
          ? ' Data we must keep by law is kept, and we tell you what was kept and why.'
          : '',
      ),
    );
  if (rights.available.includes('access') || rights.available.includes('portability'))
    rightsBlocks.push(
      p(
        `Copies of your data are provided in ${rights.exportFormats.map((f) => f.toUpperCase()).join(' and ')}.`,
      ),
    );
  if (rights.note) rightsBlocks.push(p(rights.note));
  sections.push({ id: 'rights', title: 'Your rights', blocks: rightsBlocks });

  // Cookies
  const cookieBlocks: Block[] = [];
  if (r.cookies.length === 0) cookieBlocks.push(p('We do not use cookies.'));
  else {
    cookieBlocks.push({
      kind: 'table',
      caption: 'Cookies we use',
      head: ['Name', 'Provider', 'Category', 'Purpose', 'Lifetime', 'Party'],
      rows: r.cookies.map((c): Text[] => [
        [c.name],
        [c.provider],
        [c.category],
        [c.purpose],
        [
          c.lifetime === 'session'
            ? 'until you close the browser'
            : (durationInWords(c.lifetime) ?? c.lifetime),
        ],
        [c.party === 'first' ? 'first party' : 'third party'],
      ]),
    });
    const used = [...new Set(r.cookies.map((c) => c.category))];
    const asked = used.filter((c) => r.cookieConsent.requiredFor.includes(c));
    const notAsked = used.filter((c) => !r.cookieConsent.requiredFor.includes(c));
    cookieBlocks.push(
      p(
        asked.length > 0
          ? `We set ${asked.join(', ')} cookies only with your consent, which you can change at any time.`
          : '',
        notAsked.length > 0
          ? ` ${capitalise(notAsked.join(', '))} cookies are needed for the service and cannot be refused.`
          : '',
        r.cookieConsent.note ? ` ${r.cookieConsent.note}` : '',
      ),
    );
  }
  sections.push({ id: 'cookies', title: 'Cookies', blocks: cookieBlocks });

  const authority = org.supervisoryAuthority;
  sections.push({
    id: 'complaints',
    title: 'Complaints',
    blocks: [
      p(
        'If you think we process your personal data unlawfully, you can complain to the supervisory authority: ',
        web(authority.url, authority.name),
        ', or to the authority where you live or work.',
      ),
    ],
  });
  sections.push({
    id: 'security',
    title: 'How we protect your data',
    blocks: [list(r.security.measures.map((m) => [m]))],
  });
  sections.push({
    id: 'changes',
    title: 'Changes to this policy',
    blocks: [
      ...(r.policy.changes ? [p(r.policy.changes)] : []),
      p(`This is version ${r.policy.version}, effective ${dateInWords(r.policy.effective)}.`),
    ],
  });

  return {
    title: r.policy.title ?? `${org.name} privacy policy`,
    lang: r.policy.language,
    subtitle: `Version ${r.policy.version}, effective ${dateInWords(r.policy.effective)}`,
    sections,
  };
}
