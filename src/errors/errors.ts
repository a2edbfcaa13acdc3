/**
 * One error base for everything Avow answers on purpose. The code is a closed
 * union with one HTTP status each; `details` is safe to show a client, so it
 * never holds personal data, secrets or database text.
 */
export const errorStatus = {
  validation_failed: 400,
  invalid_json: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export type ErrorDetail = { path?: string; message: string; [key: string]: unknown };

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[] | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetail[]; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
  }

  get status(): number {
    return errorStatus[this.code];
  }
}

export const notFound = (what: string): AppError => new AppError('not_found', `${what} not found`);

export const isAppError = (value: unknown): value is AppError => value instanceof AppError;
