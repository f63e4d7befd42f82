// The options of one `miro run`, as one typed value: the CLI builds it, the runner reads it, and
// a child process that runs one node for its parent receives it whole (child.ts).

import type { PlanOptions } from './planner.js';
import type { ProgressSink } from '../util/progress.js';

export interface RunOptions extends PlanOptions {
  dryRun?: boolean;
  rank?: number;
  world?: number;
  /** Nodes run at once. */
  jobs?: number;
  /** How long a node waits for input shards that other ranks are still writing. */
  waitTimeoutMs?: number;
  /** A lock from another host whose heartbeat is older than this is taken over. */
  lockLeaseMs?: number;
  /** Run although another pipeline file claimed this pipeline's name (its data folder). */
  forceName?: boolean;
  /** Set in a child process that runs one node for its parent (child.ts): never spawn again. */
  inChild?: boolean;
  progress?: ProgressSink;
}
