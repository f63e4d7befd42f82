// A few error classes, each carrying where it happened and the original cause.

export class MiroError extends Error {
  override name = 'MiroError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The command line asks for something that cannot be (a node that does not exist, options that do not go together): exit 2. */
export class UsageError extends MiroError {
  override name = 'UsageError';
}

/** A pipeline file is wrong: names the file, line and key path. */
export class ConfigError extends MiroError {
  override name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${keyPath ? `${keyPath}: ` : ''}${problem}`);
  }
}

/** Reading or writing committed data failed. */
export class StoreError extends MiroError {
  override name = 'StoreError';
}

/** A stage failed on a node/shard as a whole (not a single row). */
export class StageError extends MiroError {
  override name = 'StageError';
  constructor(
    readonly node: string,
    readonly shard: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`node ${node}${shard === undefined ? '' : `, shard ${shard}`}: ${message}`, options);
  }
}

/** Another process holds a node's lock for this rank. */
export class LockError extends MiroError {
  override name = 'LockError';
}

/**
 * A server (a VLM, an image host, the Hugging Face Hub) misbehaved. One subclass per kind of
 * failure, each with the URL (credentials removed), its `errorClass` (the row status it becomes)
 * and the original `cause`; in the style of ky's HTTPError and TimeoutError.
 */
export class ModelServerError extends MiroError {
  override name = 'ModelServerError';
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    /** The URL asked, credentials removed. */
    readonly url: string,
    readonly errorClass: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** No answer within the timeout. */
export class ServerTimeoutError extends ModelServerError {
  override name = 'ServerTimeoutError';
  constructor(
    url: string,
    readonly timeoutMs: number,
    cause: unknown,
  ) {
    super(`${url}: no answer within ${timeoutMs} ms`, url, 'timeout', true, { cause });
  }
}

/** The connection failed or broke (refused, reset, DNS). */
export class ServerNetworkError extends ModelServerError {
  override name = 'ServerNetworkError';
  constructor(url: string, detail: string, cause: unknown) {
    super(`${url}: ${detail}`, url, 'connection_error', true, { cause });
  }
}

/** An HTTP status other than 2xx; 429 and 5xx are retryable. */
export class ServerHTTPError extends ModelServerError {
  override name = 'ServerHTTPError';
  constructor(
    url: string,
    readonly status: number,
    body: string,
    retryAfterMs?: number,
  ) {
    super(`${url}: HTTP ${status} ${body.slice(0, 200)}`, url, `http_${status}`, status === 429 || status >= 500, { retryAfterMs });
  }
}

/** A reply that is not what the protocol promises (not JSON, no choices, bad log-probabilities). */
export class ServerResponseError extends ModelServerError {
  override name = 'ServerResponseError';
  constructor(url: string, detail: string) {
    super(`${url}: ${detail}`, url, 'bad_response', true);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A row-level failure with a stable error class for `status` (e.g. timeout, no_tags). */
export class RowError extends MiroError {
  override name = 'RowError';
  constructor(
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a request to `miro serve` asked for cannot be answered as asked (a bad sort, filter or cursor): a 400. */
export class BadRequest extends MiroError {
  override name = 'BadRequest';
}

/** A source path that is not a regular file (a FIFO, a folder, a device): ingest refuses it. */
export class NotAFileError extends MiroError {
  override name = 'NotAFileError';
}
