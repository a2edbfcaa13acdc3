/// <reference lib="dom" />
/**
 * The cookie banner, bundled by esbuild into /consent.js (no UI framework).
 * Runs in the visitor's browser on the tenant's site: shows a banner and a
 * preferences dialog built from the register's cookie categories, keeps the
 * choice in a first-party cookie, records every choice in the ledger, and
 * lets the site gate its scripts with `avow.consent.has('analytics')`.
 */
import { type BannerStrings, bannerStrings } from './banner-strings.js';
import { bannerCss } from './banner-styles.js';

type Category = 'necessary' | 'functional' | 'analytics' | 'marketing';
type CookieInfo = { name: string; provider: string; purpose: string; lifetime: string };
export type BannerConfig = {
  tenantId: string;
  registerVersion: string | null;
  organisation: string;
  policyUrl: string | null;
  language: string;
  cookieListHash: string;
  categories: { key: Category; required: boolean; cookies: CookieInfo[] }[];
};
/** What the first-party cookie holds: visitor token, list hash at the choice, choices, GPC applied. */
type Stored = { v?: string; h?: string; c?: Partial<Record<Category, boolean>>; g?: 1 };
type Listener = (choices: Record<Category, boolean>) => void;

const COOKIE = 'avow_consent';
const MAX_AGE = 60 * 60 * 24 * 180;

export function start(config: BannerConfig): void {
  const w = window as unknown as Record<string, unknown>;
  const script = document.currentScript as HTMLScriptElement | null;
  const endpoint = new URL('consent', script?.src ?? location.href).href;
  const lang = (
    script?.dataset.lang ??
    config.language ??
    document.documentElement.lang ??
    'en'
  ).slice(0, 2);
  const t: BannerStrings = {
    ...(lang === 'fi' ? bannerStrings.fi : bannerStrings.en),
    ...(w.avowConsentStrings as Partial<BannerStrings> | undefined),
  };
  const gpc =
    (navigator as Navigator & { globalPrivacyControl?: boolean }).globalPrivacyControl === true;
  const optional = config.categories.filter((c) => !c.required).map((c) => c.key);
  const listeners: Listener[] = [];

  let stored: Stored = read();
  const chosen = () => stored.h === config.cookieListHash && !!stored.c;

  function read(): Stored {
    const match = document.cookie.split('; ').find((c) => c.startsWith(`${COOKIE}=`));
    if (!match) return {};
    try {
      return JSON.parse(decodeURIComponent(match.slice(COOKIE.length + 1))) as Stored;
    } catch {
      return {};
    }
  }
  function write(): void {
    const secure = location.protocol === 'https:' ? '; Secure' : '';
    // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is missing in Firefox and Safari
    document.cookie = `${COOKIE}=${encodeURIComponent(JSON.stringify(stored))}; Max-Age=${MAX_AGE}; Path=/; SameSite=Lax${secure}`;
  }

  function choices(): Record<Category, boolean> {
    const out = { necessary: true, functional: false, analytics: false, marketing: false };
    for (const c of config.categories) {
      out[c.key] =
        c.required || (chosen() && stored.c?.[c.key] === true && !(gpc && c.key === 'marketing'));
    }
    return out;
  }

  /** Turns <script type="text/plain" data-avow-category="analytics"> into a real script once allowed. */
  function activate(): void {
    const now = choices();
    for (const el of Array.from(
      document.querySelectorAll<HTMLScriptElement>('script[type="text/plain"][data-avow-category]'),
    )) {
      if (!now[el.dataset.avowCategory as Category]) continue;
      const real = document.createElement('script');
      for (const attr of Array.from(el.attributes))
        if (attr.name !== 'type') real.setAttribute(attr.name, attr.value);
      real.text = el.text;
      el.replaceWith(real);
    }
  }

  function changed(): void {
    const now = choices();
    activate();
    for (const fn of listeners) fn(now);
    document.dispatchEvent(new CustomEvent('avow:consent', { detail: now }));
  }

  // One request at a time, so the visitor token from the first reply goes with the next.
  let queue: Promise<void> = Promise.resolve();
  function send(body: Record<string, unknown>): Promise<void> {
    queue = queue.then(() => post(body));
    return queue;
  }
  async function post(body: Record<string, unknown>): Promise<void> {
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ visitor: stored.v, ...body }),
        keepalive: true,
      });
      if (!res.ok) return;
      const reply = (await res.json()) as { visitor?: string };
      if (reply.visitor) {
        stored.v = reply.visitor;
        write();
      }
    } catch {
      // Offline or blocked: the choice still holds on this device and is sent with the next one.
    }
  }

  function choose(next: Partial<Record<Category, boolean>>): Promise<void> {
    const c: Partial<Record<Category, boolean>> = {};
    for (const key of optional) c[key] = next[key] === true && !(gpc && key === 'marketing');
    stored = { ...stored, h: config.cookieListHash, c, ...(gpc ? { g: 1 } : {}) };
    write();
    closeAll();
    announce(t.saved);
    changed();
    return send({
      choices: c,
      cookieListHash: config.cookieListHash,
      registerVersion: config.registerVersion,
    });
  }
  const all = (value: boolean) => Object.fromEntries(optional.map((k) => [k, value]));

  // --- DOM -------------------------------------------------------------
  const h = <K extends keyof HTMLElementTagNameMap>(
    tag: K,
    props: Record<string, string> = {},
    ...kids: (Node | string)[]
  ) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) el.setAttribute(k, v);
    el.append(...kids);
    return el;
  };
  const fill = (text: string) => text.replace('{org}', config.organisation);
  const button = (label: string, cls: string, onClick: () => void) => {
    const b = h('button', { type: 'button', class: cls }, label);
    b.addEventListener('click', onClick);
    return b;
  };
  let bar: HTMLElement | null = null;
  let dialog: HTMLElement | null = null;
  let returnFocus: HTMLElement | null = null;
  const live = h('div', { class: 'avw avw-sr', role: 'status', 'aria-live': 'polite' });

  function announce(text: string): void {
    live.textContent = '';
    setTimeout(() => {
      live.textContent = text;
    }, 50);
  }

  function closeAll(): void {
    bar?.remove();
    bar = null;
    closeDialog();
  }

  function showBar(): void {
    if (bar) return;
    const links = config.policyUrl ? [' ', h('a', { href: config.policyUrl }, t.policy)] : [];
    bar = h(
      'section',
      {
        class: 'avw avw-bar',
        role: 'region',
        'aria-labelledby': 'avw-title',
        'data-avow': 'banner',
        tabindex: '-1',
      },
      h('h2', { id: 'avw-title' }, t.title),
      h('p', {}, fill(t.body), ...links),
      ...(gpc ? [h('p', { class: 'avw-note' }, t.gpc)] : []),
      h(
        'div',
        { class: 'avw-row' },
        button(t.acceptAll, 'avw-main', () => void choose(all(true))),
        button(t.rejectAll, 'avw-main', () => void choose(all(false))),
        button(t.customise, '', () => showDialog()),
      ),
    );
    document.body.append(bar);
    // Screen readers hear the banner first; keyboard users start inside it.
    bar.focus();
  }

  function showDialog(): void {
    if (dialog) return;
    returnFocus = document.activeElement as HTMLElement | null;
    const now = choices();
    const rows = config.categories.map((c) => {
      const words = t.categories[c.key];
      const id = `avw-c-${c.key}`;
      const input = h('input', {
        type: 'checkbox',
        id,
        name: c.key,
        'aria-describedby': `${id}-d`,
      }) as HTMLInputElement;
      input.checked = c.required || now[c.key] || false;
      if (c.required || (gpc && c.key === 'marketing')) {
        input.disabled = true;
      }
      const list = c.cookies.length
        ? [
            h(
              'details',
              {},
              h('summary', {}, `${t.cookies} (${c.cookies.length})`),
              h(
                'ul',
                {},
                ...c.cookies.map((k) =>
                  h('li', {}, `${k.name} — ${k.provider}: ${k.purpose} (${k.lifetime})`),
                ),
              ),
            ),
          ]
        : [];
      return h(
        'div',
        { class: 'avw-cat' },
        h('label', { for: id }, input, c.required ? `${words.name} (${t.alwaysOn})` : words.name),
        h('p', { id: `${id}-d` }, words.description),
        ...list,
      );
    });
    const read = () => {
      const out: Partial<Record<Category, boolean>> = {};
      for (const key of optional)
        out[key] =
          (dialog?.querySelector(`#avw-c-${key}`) as HTMLInputElement | null)?.checked === true;
      return out;
    };
    const box = h(
      'div',
      {
        class: 'avw-dlg',
        role: 'dialog',
        'aria-modal': 'true',
        'aria-labelledby': 'avw-ptitle',
        'aria-describedby': 'avw-pbody',
        'data-avow': 'preferences',
        tabindex: '-1',
      },
      h('h2', { id: 'avw-ptitle' }, t.preferencesTitle),
      h('p', { id: 'avw-pbody' }, t.preferencesBody),
      ...(gpc ? [h('p', { class: 'avw-note' }, t.gpc)] : []),
      ...rows,
      h(
        'div',
        { class: 'avw-row' },
        button(t.save, 'avw-main', () => void choose(read())),
        button(t.acceptAll, 'avw-main', () => void choose(all(true))),
        button(t.rejectAll, 'avw-main', () => void choose(all(false))),
        button(t.close, '', () => closeDialog()),
      ),
    );
    dialog = h('div', { class: 'avw avw-back' }, box);
    dialog.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        closeDialog();
      } else if (event.key === 'Tab') {
        // Keep focus inside the modal dialog.
        const items = Array.from(
          box.querySelectorAll<HTMLElement>('button, input:not([disabled]), summary, a'),
        );
        const first = items[0];
        const last = items[items.length - 1];
        if (event.shiftKey && document.activeElement === first) {
          event.preventDefault();
          last?.focus();
        } else if (!event.shiftKey && document.activeElement === last) {
          event.preventDefault();
          first?.focus();
        }
      }
    });
    document.body.append(dialog);
    box.focus();
  }

  function closeDialog(): void {
    if (!dialog) return;
    dialog.remove();
    dialog = null;
    (bar?.isConnected ? bar : returnFocus)?.focus();
  }

  const api = {
    has: (category: string) => choices()[category as Category] === true,
    get: () => choices(),
    /** Opens the preferences dialog (link it from the site's footer). */
    show: () => {
      if (document.body) showDialog();
    },
    /** Withdraws every optional category: as easy as giving. */
    withdraw: () => choose(all(false)),
    on: (_event: 'change', fn: Listener) => {
      listeners.push(fn);
      return () => listeners.splice(listeners.indexOf(fn) >>> 0, 1);
    },
    visitor: () => stored.v ?? null,
  };
  w.avow = { ...(w.avow as object | undefined), consent: api };

  const boot = () => {
    document.head.append(h('style', {}, bannerCss));
    document.body.append(live);
    activate();
    // A GPC signal is recorded once per visitor; the server applies it from the Sec-GPC header.
    if (gpc && !stored.g) {
      stored.g = 1;
      write();
      void send({ choices: {} });
    }
    if (!chosen()) showBar();
    changed();
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
}
