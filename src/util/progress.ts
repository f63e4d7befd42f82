// Progress per node: shards done/total, rows/s and ETA. On a TTY one line is redrawn;
// elsewhere (CI, logs) plain lines are printed when a shard finishes.

export interface ProgressSink {
  log(message: string): void;
  shardDone(node: string, done: number, total: number, rows: number): void;
  rows(node: string, rowsDone: number): void;
  nodeStart(node: string, total: number): void;
}

function fmtSecs(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

interface NodeProgress {
  start: number;
  total: number;
  done: number;
  rows: number;
  liveRows: number;
}

export class Progress implements ProgressSink {
  private readonly nodes = new Map<string, NodeProgress>();
  private lastDraw = 0;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(out.isTTY) && !process.env.CI,
    private readonly quiet = false,
  ) {}

  log(message: string): void {
    if (this.quiet) return;
    if (this.tty) this.out.write('\r\x1b[2K');
    this.out.write(`${message}\n`);
  }

  nodeStart(node: string, total: number): void {
    this.nodes.set(node, { start: performance.now(), total, done: 0, rows: 0, liveRows: 0 });
  }

  rows(node: string, rowsDone: number): void {
    const p = this.nodes.get(node);
    if (!p) return;
    p.liveRows = rowsDone;
    if (this.tty && performance.now() - this.lastDraw > 200) this.draw(node, p);
  }

  shardDone(node: string, done: number, total: number, rows: number): void {
    const p = this.nodes.get(node) ?? { start: performance.now(), total, done: 0, rows: 0, liveRows: 0 };
    p.done = done;
    p.rows += rows;
    p.liveRows = 0;
    this.nodes.set(node, p);
    const secs = (performance.now() - p.start) / 1000;
    const eta = p.done > 0 ? (secs / p.done) * (p.total - p.done) : NaN;
    const line = `[${node}] shard ${done}/${total} · ${p.rows} rows · ${(p.rows / Math.max(secs, 1e-3)).toFixed(0)} rows/s · ETA ${fmtSecs(eta)}`;
    if (this.tty) this.draw(node, p, line);
    else this.log(line);
  }

  private draw(node: string, p: NodeProgress, line?: string): void {
    if (this.quiet) return;
    this.lastDraw = performance.now();
    const secs = (performance.now() - p.start) / 1000;
    const rows = p.rows + p.liveRows;
    const text = line ?? `[${node}] shard ${p.done}/${p.total} · ${rows} rows · ${(rows / Math.max(secs, 1e-3)).toFixed(0)} rows/s`;
    this.out.write(`\r\x1b[2K${text}`);
  }
}
