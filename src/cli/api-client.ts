/**
 * The CLI's way to a running Avow: plain HTTP with an API key, so the same
 * commands work against the embedded server and a production one.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { path?: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type ApiConnection = {
  url: string;
  apiKey: string | undefined;
  tenant?: string | undefined;
};

export async function callApi<T>(
  connection: ApiConnection,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (connection.apiKey) headers.authorization = `Bearer ${connection.apiKey}`;
  if (connection.tenant) headers['avow-tenant'] = connection.tenant;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(new URL(path, connection.url), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(
      0,
      'unreachable',
      `Cannot reach Avow at ${connection.url}; is it running (npm start)? Set AVOW_URL or --url to point elsewhere.`,
    );
  }
  const text = await response.text();
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if (!response.ok) {
    const error = (
      parsed as
        | {
            error?: {
              code: string;
              message: string;
              details?: { path?: string; message: string }[];
            };
          }
        | undefined
    )?.error;
    throw new ApiError(
      response.status,
      error?.code ?? 'http_error',
      error?.message ?? `HTTP ${response.status}`,
      error?.details,
    );
  }
  return parsed as T;
}
