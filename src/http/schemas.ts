import { z } from 'zod';

/** A timestamp on the wire is an ISO 8601 string; inside Avow it is a Date. */
export const timestamp = z.codec(z.iso.datetime({ offset: true }), z.date(), {
  decode: (text) => new Date(text),
  encode: (date) => date.toISOString(),
});

export const calendarDate = z.iso.date().describe('A calendar date, YYYY-MM-DD');

export const errorReply = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      requestId: z.string(),
      details: z
        .array(z.looseObject({ path: z.string().optional(), message: z.string() }))
        .optional(),
    }),
  })
  .meta({ id: 'Error' });

/** The error replies every authenticated route can give, for the OpenAPI document. */
export const authErrors = {
  400: errorReply,
  401: errorReply,
  403: errorReply,
  404: errorReply,
} as const;

export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  after: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Return items after this id (the last id of the previous page)'),
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

export function toPage<T extends { id: string }>(
  items: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  const last = items.at(-1);
  return { items, nextCursor: items.length === limit && last ? last.id : null };
}
