/** One problem with one field of a request, as Avow names it (`body.role`, `query.limit`). */
export type AvowErrorDetail = { path?: string; message: string; [key: string]: unknown };

/**
 * A call Avow answered with an error (or could not be reached: status 0, code
 * `unreachable`). `code` is Avow's stable error code; `requestId` is what to
 * quote when reporting a problem.
 */
export class AvowApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | null;
  readonly details: AvowErrorDetail[];

  constructor(fields: {
    status: number;
    code: string;
    message: string;
    requestId?: string | null;
    details?: AvowErrorDetail[];
    cause?: unknown;
  }) {
    super(fields.message, { cause: fields.cause });
    this.name = 'AvowApiError';
    this.status = fields.status;
    this.code = fields.code;
    this.requestId = fields.requestId ?? null;
    this.details = fields.details ?? [];
  }
}

type AvowErrorBody = {
  error?: { code?: unknown; message?: unknown; requestId?: unknown; details?: unknown };
};

/** Builds the error from a non-2xx reply; a body that is not Avow's error shape still gives one. */
export function errorFromReply(response: Response, body: unknown): AvowApiError {
  const error =
    (body && typeof body === 'object' ? (body as AvowErrorBody).error : undefined) ?? {};
  return new AvowApiError({
    status: response.status,
    code: typeof error.code === 'string' ? error.code : 'http_error',
    message:
      typeof error.message === 'string'
        ? error.message
        : `Avow answered HTTP ${response.status} ${response.statusText}`.trim(),
    requestId:
      typeof error.requestId === 'string' ? error.requestId : response.headers.get('x-request-id'),
    details: Array.isArray(error.details) ? (error.details as AvowErrorDetail[]) : [],
  });
}

/** What every openapi-fetch call resolves to, whatever the route. */
export type RawResult<T> = { data?: T; error?: unknown; response: Response };

/**
 * Awaits a raw openapi-fetch call and gives its data, or throws AvowApiError, so
 * callers need not check `error` after every call.
 */
export type Call = <T>(request: Promise<RawResult<T>>) => Promise<T>;

export function createCall(baseUrl: string): Call {
  return async <T>(request: Promise<RawResult<T>>): Promise<T> => {
    let result: RawResult<T>;
    try {
      result = await request;
    } catch (cause) {
      throw new AvowApiError({
        status: 0,
        code: 'unreachable',
        message: `Cannot reach Avow at ${baseUrl}`,
        cause,
      });
    }
    if (!result.response.ok) throw errorFromReply(result.response, result.error);
    return result.data as T;
  };
}
