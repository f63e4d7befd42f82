// What every route module of `miro serve` shares: the pipeline, its sandboxed DuckDB connection
// behind a one-query-at-a-time queue with a statement timeout, the Dataset page's table and the
// Dials sampler. Routes throw; the server's one onError turns what they throw into a status.

import type { DuckDBConnection } from '@duckdb/node-api';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Pipeline } from '../dag/pipeline.js';
import { MiroError } from '../errors.js';
import type { Dataset } from './dataset.js';
import type { Dials } from './dials.js';

export interface ServeContext {
  pipeline: Pipeline;
  conn: DuckDBConnection;
  dataset: Dataset;
  dials: Dials;
  /** Runs f on the one connection, after the queries before it, stopped at the statement timeout. */
  db<T>(f: () => Promise<T>): Promise<T>;
}

/** A request whose queries ran past the statement timeout: 503, the server goes on. */
export class QueryTimeout extends MiroError {}

/** A route's answer other than 200: `throw httpError(404, 'no row with id 7')`. */
export function httpError(status: ContentfulStatusCode, message: string): HTTPException {
  return new HTTPException(status, { message });
}
