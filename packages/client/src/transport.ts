import type { Client } from 'openapi-fetch';
import type { Call } from './errors.js';
import type { paths } from './schema.js';

/** What each domain's helpers are built on: the typed openapi-fetch client and `call`. */
export type RawClient = Client<paths>;
export type Transport = { raw: RawClient; call: Call };
