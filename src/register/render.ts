import {
  type Block,
  buildPolicy,
  type Inline,
  type PolicyDocument,
  type Text,
} from './policy-document.js';
import type { Register } from './register-schema.js';

export type PolicyFormat = 'html' | 'md';

export function renderPolicy(register: Register, format: PolicyFormat): string {
  const doc = buildPolicy(register);
  return format === 'html' ? toHtml(doc) : toMarkdown(doc);
}

// ---- HTML: semantic, no scripts, readable when printed -------------------------

const escapeHtml = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

// Only web and mail links are written out: a register cannot smuggle in javascript: URLs.
const safeHref = (href: string) => /^(https?:|mailto:)/i.test(href);

function inlineHtml(text: Text): string {
  return text
    .map((part: Inline) =>
      typeof part === 'string'
        ? escapeHtml(part)
        : safeHref(part.href)
          ? `<a href="${escapeHtml(part.href)}">${escapeHtml(part.text)}</a>`
          : escapeHtml(part.text),
    )
    .join('');
}

function blockHtml(block: Block): string {
  switch (block.kind) {
    case 'p':
      return `<p>${inlineHtml(block.text)}</p>`;
    case 'h3':
      return `<h3>${escapeHtml(block.text)}</h3>`;
    case 'list':
      return `<ul>\n${block.items.map((i) => `  <li>${inlineHtml(i)}</li>`).join('\n')}\n</ul>`;
    case 'table': {
      const head = block.head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('');
      const rows = block.rows
        .map(
          (row) =>
            `    <tr>${row.map((cell, i) => (i === 0 ? `<th scope="row">${inlineHtml(cell)}</th>` : `<td>${inlineHtml(cell)}</td>`)).join('')}</tr>`,
        )
        .join('\n');
      return `<div class="table" role="region" aria-label="${escapeHtml(block.caption)}" tabindex="0"><table>\n  <caption>${escapeHtml(block.caption)}</caption>\n  <thead><tr>${head}</tr></thead>\n  <tbody>\n${rows}\n  </tbody>\n</table></div>`;
    }
  }
}

const STYLE = `
  :root { color-scheme: light dark; }
  body { font: 1rem/1.6 system-ui, sans-serif; margin: 0 auto; max-width: 52rem; padding: 1rem 1.25rem 3rem; }
  h1 { line-height: 1.2; margin-bottom: .25rem; }
  h2 { margin-top: 2.5rem; border-bottom: 1px solid #8886; padding-bottom: .25rem; }
  .table { overflow-x: auto; }
  table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: .95rem; }
  caption { text-align: left; font-weight: 600; padding-bottom: .5rem; }
  th, td { border: 1px solid #8886; padding: .4rem .55rem; text-align: left; vertical-align: top; }
  thead th { background: #8881; }
  a { color: inherit; text-underline-offset: .15em; }
  a:focus-visible { outline: 3px solid #4a90e2; outline-offset: 2px; }
  nav ol { padding-left: 1.25rem; }
  @media print {
    body { max-width: none; font-size: 11pt; color: #000; background: #fff; }
    nav { display: none; }
    h2 { break-after: avoid; }
    tr, li { break-inside: avoid; }
    a[href^="http"]::after { content: " (" attr(href) ")"; font-size: .85em; }
  }`;

export function toHtml(doc: PolicyDocument): string {
  const nav = doc.sections
    .map((s) => `    <li><a href="#${s.id}">${escapeHtml(s.title)}</a></li>`)
    .join('\n');
  const sections = doc.sections
    .map(
      (s) =>
        `<section aria-labelledby="${s.id}">\n<h2 id="${s.id}">${escapeHtml(s.title)}</h2>\n${s.blocks.map(blockHtml).join('\n')}\n</section>`,
    )
    .join('\n\n');
  return `<!doctype html>
<html lang="${escapeHtml(doc.lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(doc.title)}</title>
<style>${STYLE}
</style>
</head>
<body>
<header>
<h1>${escapeHtml(doc.title)}</h1>
<p>${escapeHtml(doc.subtitle)}</p>
</header>
<nav aria-label="Contents">
  <h2>Contents</h2>
  <ol>
${nav}
  </ol>
</nav>
<main>
${sections}
</main>
</body>
</html>
`;
}

// ---- Markdown ------------------------------------------------------------------

const escapeMd = (s: string) => s.replace(/([\\`*_[\]<>#|])/g, '\\$1');

function inlineMd(text: Text): string {
  return text
    .map((part) =>
      typeof part === 'string'
        ? escapeMd(part)
        : part.href.startsWith('mailto:')
          ? `<${part.text}>`
          : `[${escapeMd(part.text)}](${part.href})`,
    )
    .join('');
}

function blockMd(block: Block): string {
  switch (block.kind) {
    case 'p':
      return inlineMd(block.text);
    case 'h3':
      return `### ${escapeMd(block.text)}`;
    case 'list':
      return block.items.map((i) => `- ${inlineMd(i)}`).join('\n');
    case 'table': {
      const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
      return [
        `**${escapeMd(block.caption)}**`,
        '',
        row(block.head.map(escapeMd)),
        row(block.head.map(() => '---')),
        ...block.rows.map((r) => row(r.map((cell) => inlineMd(cell).replace(/\n/g, ' ')))),
      ].join('\n');
    }
  }
}

export function toMarkdown(doc: PolicyDocument): string {
  const parts = [`# ${escapeMd(doc.title)}`, `_${escapeMd(doc.subtitle)}_`];
  for (const s of doc.sections) {
    parts.push(`## ${escapeMd(s.title)}`);
    for (const b of s.blocks) parts.push(blockMd(b));
  }
  return `${parts.join('\n\n')}\n`;
}
