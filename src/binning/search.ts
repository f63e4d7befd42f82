// Bucketizing a score against a reward's sorted bin edges, in JavaScript. The `bins` stage runs
// this inside DuckDB queries (./duckdb-function.ts); evaluation scores generated samples with it.
//
// A textbook binary search mispredicts a branch at nearly every level for random scores (about
// 80 ns a value here); this one pads the edges to 2^k - 1 with +Infinity and adds each step's
// comparison as a number, so it has no data-dependent branches (about 8 ns a value).

export class EdgeSearch {
  private readonly padded: Float64Array;
  private readonly firstStep: number;

  /** `edges`: ascending; `numBins`: B, so edges.length is B + 1. */
  constructor(
    readonly edges: readonly number[],
    readonly numBins: number,
  ) {
    let size = 2;
    while (size - 1 < edges.length) size *= 2;
    this.padded = new Float64Array(size).fill(Infinity);
    this.padded.set(edges);
    this.firstStep = size / 2;
  }

  /** How many edges lie strictly below `x` (torch.bucketize with right=False). */
  countBelow(x: number): number {
    const e = this.padded;
    let p = 0;
    let step = this.firstStep;
    for (; step > 1024; step >>= 1) p += step * +(e[p + step - 1]! < x);
    // Unrolled: each `if` goes the same way for every score, so it is always predicted (a loop
    // here takes twice as long).
    if (step >= 1024) p += 1024 * +(e[p + 1023]! < x);
    if (step >= 512) p += 512 * +(e[p + 511]! < x);
    if (step >= 256) p += 256 * +(e[p + 255]! < x);
    if (step >= 128) p += 128 * +(e[p + 127]! < x);
    if (step >= 64) p += 64 * +(e[p + 63]! < x);
    if (step >= 32) p += 32 * +(e[p + 31]! < x);
    if (step >= 16) p += 16 * +(e[p + 15]! < x);
    if (step >= 8) p += 8 * +(e[p + 7]! < x);
    if (step >= 4) p += 4 * +(e[p + 3]! < x);
    if (step >= 2) p += 2 * +(e[p + 1]! < x);
    return p + +(e[p]! < x);
  }

  /** MIRO's bin index, `max(0, bucketize - 1)` capped at B - 1; NULL and NaN are not scores. */
  bin(x: number | null): number | null {
    if (x === null || Number.isNaN(x)) return null;
    return Math.min(this.numBins - 1, Math.max(0, this.countBelow(x) - 1));
  }
}

/** One score's bin (builds the search each call: for a few values; reuse an EdgeSearch for many). */
export function binOf(score: number | null, edges: readonly number[], numBins: number): number | null {
  return new EdgeSearch(edges, numBins).bin(score);
}
