// Progress per node: shards done/total, rows/s and ETA. On a TTY one line is redrawn;
// elsewhere (CI, logs) plain lines are printed when a shard finishes.

import { settings } from './settings.js';

export interface ProgressSink {
  log(message: string): void;
  shardDone(node: string, done: number, total: number, rows: number): void;
  rows(node: string, rowsDone: number, rowsTotal?: number, detail?: ProgressDetail): void;
  nodeStart(node: string, total: number): void;
}

/** What a stage counts (rows by default; training counts steps) and a note for the line (the loss). */
export interface ProgressDetail {
  unit?: string;
  note?: string;
}

function fmtSecs(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

interface NodeProgress {
  start: number;
  lastLine: number;
  shardStart: number;
  total: number;
  done: number;
  rows: number;
  liveRows: number;
  liveTotal?: number;
  unit?: string;
  note?: string;
}

export class Progress implements ProgressSink {
  private readonly nodes = new Map<string, NodeProgress>();
  private lastDraw = 0;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(out.isTTY) && !settings().plainProgress,
    private readonly quiet = false,
  ) {}

  log(message: string): void {
    if (this.quiet) return;
    if (this.tty) this.out.write('\r\x1b[2K');
    this.out.write(`${message}\n`);
  }

  nodeStart(node: string, total: number): void {
    const now = performance.now();
    this.nodes.set(node, { start: now, lastLine: now, shardStart: now, total, done: 0, rows: 0, liveRows: 0 });
  }

  /** Rows done in the running shard. Off a TTY, a plain line every 15 s keeps long shards visible. */
  rows(node: string, rowsDone: number, rowsTotal?: number, detail: ProgressDetail = {}): void {
    const p = this.nodes.get(node);
    if (!p) return;
    p.liveRows = rowsDone;
    p.unit = detail.unit ?? 'rows';
    p.note = detail.note;
    p.liveTotal = rowsTotal;
    const now = performance.now();
    if (this.tty) {
      if (now - this.lastDraw > 200) this.draw(node, p);
    } else if (now - p.lastLine > 15_000) {
      p.lastLine = now;
      const secs = (now - p.shardStart) / 1000;
      const rate = rowsDone / Math.max(secs, 1e-3);
      this.log(this.liveLine(node, p, rate));
    }
  }

  shardDone(node: string, done: number, total: number, rows: number): void {
    const now = performance.now();
    const p = this.nodes.get(node) ?? { start: now, lastLine: now, shardStart: now, total, done: 0, rows: 0, liveRows: 0 };
    p.done = done;
    p.shardStart = now;
    p.rows += rows;
    p.liveRows = 0;
    this.nodes.set(node, p);
    const secs = (performance.now() - p.start) / 1000;
    const eta = p.done > 0 ? (secs / p.done) * (p.total - p.done) : NaN;
    const line = `[${node}] shard ${done}/${total} · ${p.rows} rows · ${(p.rows / Math.max(secs, 1e-3)).toFixed(0)} rows/s · ETA ${fmtSecs(eta)}`;
    if (this.tty) this.draw(node, p, line);
    else this.log(line);
  }

  /** The running shard: `[train] shard 1/1 running · 300/3000 steps · 9.8 steps/s · ETA 4m35s · loss 0.1523`. */
  private liveLine(node: string, p: NodeProgress, rate: number): string {
    const unit = p.unit ?? 'rows';
    const total = p.liveTotal;
    const eta = total ? ` · ETA ${fmtSecs((total - p.liveRows) / Math.max(rate, 1e-9))}` : '';
    return `[${node}] shard ${p.done + 1}/${p.total} running · ${p.liveRows}${total ? `/${total}` : ''} ${unit} · ${rate.toFixed(1)} ${unit}/s${eta}${p.note ? ` · ${p.note}` : ''}`;
  }

  private draw(node: string, p: NodeProgress, line?: string): void {
    if (this.quiet) return;
    this.lastDraw = performance.now();
    const secs = (performance.now() - p.shardStart) / 1000;
    const text = line ?? this.liveLine(node, p, p.liveRows / Math.max(secs, 1e-3));
    this.out.write(`\r\x1b[2K${text}`);
  }
}
