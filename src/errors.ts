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

/** A model server (HTTP) misbehaved: timeout, bad status, garbage. */
export class ModelServerError extends MiroError {
  override name = 'ModelServerError';
  constructor(
    message: string,
    readonly errorClass: string,
    readonly retryable: boolean,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
  readonly retryAfterMs: number | undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A row-level failure with a stable error class for `status` (e.g. timeout, no_tags). */
export class RowError extends Error {
  override name = 'RowError';
  constructor(
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}
