// One stats helper with standard names: total, ok, failed_<reason>, plus timings in ms.

export class Stats {
  readonly counts: Record<string, number> = {};

  inc(name: string, by = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + by;
  }

  /** Counts a row outcome: `ok`, or `failed_<status>` (and `failed`). */
  row(status: string): void {
    this.inc('total');
    if (status === 'ok') this.inc('ok');
    else {
      this.inc('failed');
      this.inc(`failed_${status}`);
    }
  }

  merge(other: Record<string, number>): void {
    for (const [k, v] of Object.entries(other)) this.inc(k, v);
  }
}
