// What running one node came to.

export interface NodeOutcome {
  node: string;
  status: 'skipped' | 'ran' | 'failed' | 'blocked';
  reason: string;
  shardsRun: number;
  error?: Error;
}
