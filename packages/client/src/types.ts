import type { paths } from './schema.js';

/** Shorthands over the generated `paths`, so each domain file names its types in one line. */
export type ApiPath = keyof paths;
type Operation<P extends ApiPath, M extends keyof paths[P]> = paths[P][M];

/** The JSON body a route accepts. */
export type BodyOf<P extends ApiPath, M extends keyof paths[P]> =
  Operation<P, M> extends { requestBody?: infer R }
    ? NonNullable<R> extends { content: { 'application/json': infer B } }
      ? B
      : never
    : never;

/** The JSON a route answers with, for one status (200 unless said). */
export type ReplyOf<P extends ApiPath, M extends keyof paths[P], S extends number = 200> =
  Operation<P, M> extends { responses: infer R }
    ? R extends { [status in S]: { content: { 'application/json': infer B } } }
      ? B
      : never
    : never;

/** The query parameters a route takes. */
export type QueryOf<P extends ApiPath, M extends keyof paths[P]> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
