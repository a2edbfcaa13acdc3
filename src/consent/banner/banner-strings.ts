/**
 * The banner's words. A site can override any of them with
 * `window.avowConsentStrings = { title: '...' }` before loading consent.js.
 * `{org}` is replaced with the organisation's name.
 */
export type BannerStrings = {
  title: string;
  body: string;
  acceptAll: string;
  rejectAll: string;
  customise: string;
  save: string;
  close: string;
  preferencesTitle: string;
  preferencesBody: string;
  alwaysOn: string;
  cookies: string;
  policy: string;
  gpc: string;
  saved: string;
  categories: Record<
    'necessary' | 'functional' | 'analytics' | 'marketing',
    { name: string; description: string }
  >;
};

export const bannerStrings: Record<'en' | 'fi', BannerStrings> = {
  en: {
    title: 'Cookies on this site',
    body: '{org} uses cookies that are needed for the site to work. With your permission we would also use others. Nothing optional is set until you choose.',
    acceptAll: 'Accept all',
    rejectAll: 'Reject all',
    customise: 'Choose cookies',
    save: 'Save my choices',
    close: 'Close',
    preferencesTitle: 'Cookie preferences',
    preferencesBody: 'Choose which kinds of cookies we may use. You can change this at any time.',
    alwaysOn: 'Always on',
    cookies: 'Cookies',
    policy: 'Privacy policy',
    gpc: 'Your browser sends a Global Privacy Control signal, so marketing cookies stay off.',
    saved: 'Your cookie choices were saved.',
    categories: {
      necessary: {
        name: 'Necessary',
        description: 'Needed for the site to work, such as keeping you signed in.',
      },
      functional: { name: 'Functional', description: 'Remember your settings and choices.' },
      analytics: { name: 'Analytics', description: 'Help us understand how the site is used.' },
      marketing: { name: 'Marketing', description: 'Used to show and measure advertising.' },
    },
  },
  fi: {
    title: 'Evästeet tällä sivustolla',
    body: '{org} käyttää evästeitä, joita sivusto tarvitsee toimiakseen. Luvallasi käyttäisimme myös muita. Valinnaisia evästeitä ei aseteta ennen kuin valitset.',
    acceptAll: 'Hyväksy kaikki',
    rejectAll: 'Hylkää kaikki',
    customise: 'Valitse evästeet',
    save: 'Tallenna valintani',
    close: 'Sulje',
    preferencesTitle: 'Evästeasetukset',
    preferencesBody:
      'Valitse, millaisia evästeitä saamme käyttää. Voit muuttaa valintaasi milloin tahansa.',
    alwaysOn: 'Aina käytössä',
    cookies: 'Evästeet',
    policy: 'Tietosuojaseloste',
    gpc: 'Selaimesi lähettää Global Privacy Control -signaalin, joten markkinointievästeet pysyvät pois päältä.',
    saved: 'Evästevalintasi tallennettiin.',
    categories: {
      necessary: {
        name: 'Välttämättömät',
        description:
          'Sivusto tarvitsee nämä toimiakseen, esimerkiksi kirjautumisen säilyttämiseen.',
      },
      functional: { name: 'Toiminnalliset', description: 'Muistavat asetuksesi ja valintasi.' },
      analytics: {
        name: 'Analytiikka',
        description: 'Auttavat ymmärtämään, miten sivustoa käytetään.',
      },
      marketing: { name: 'Markkinointi', description: 'Mainonnan näyttämiseen ja mittaamiseen.' },
    },
  },
};
