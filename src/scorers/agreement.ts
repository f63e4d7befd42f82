// Rewards for how well an image agrees with its caption, judged by the synthetic world's
// detector. Each returns null when the caption makes no claim of its kind: a missing reward,
// not zero quality.

import { holds, type Detection } from '../synth/detector.js';
import { parseCaption, type Mention, type RelationClaim } from '../synth/captions.js';

const matches = (d: Detection, m: { colour: string | null; shape: string }) =>
  d.shape === m.shape && (m.colour === null || d.colour === m.colour);

/**
 * F1 between the objects named in the caption (with counts) and the objects detected.
 * A caption that names nothing scores 0 against an image with objects, 1 against an empty one.
 */
export function objectF1(caption: string, detections: Detection[]): number {
  const mentions = parseCaption(caption).objects;
  const named = mentions.reduce((a, m) => a + m.count, 0);
  if (named === 0) return detections.length === 0 ? 1 : 0;
  const used = new Set<number>();
  let hit = 0;
  // Specific mentions (with a colour) claim their detections before colour-less ones.
  for (const m of [...mentions].sort((a, b) => Number(b.colour !== null) - Number(a.colour !== null))) {
    for (let k = 0; k < m.count; k++) {
      const j = detections.findIndex((d, i) => !used.has(i) && matches(d, m));
      if (j < 0) break;
      used.add(j);
      hit++;
    }
  }
  if (hit === 0) return 0;
  const precision = hit / Math.max(1, detections.length);
  const recall = hit / named;
  return (2 * precision * recall) / (precision + recall);
}

/** Mean over the caption's object groups of 1 - |claimed - detected| / max(claimed, detected). */
export function countingAgreement(caption: string, detections: Detection[]): number | null {
  const groups: Mention[] = [];
  for (const m of parseCaption(caption).objects) {
    const g = groups.find((x) => x.colour === m.colour && x.shape === m.shape);
    if (g) g.count += m.count;
    else groups.push({ ...m });
  }
  if (groups.length === 0) return null;
  let s = 0;
  for (const g of groups) {
    const found = detections.filter((d) => matches(d, g)).length;
    s += 1 - Math.abs(g.count - found) / Math.max(g.count, found);
  }
  return s / groups.length;
}

function relationHolds(r: RelationClaim, detections: Detection[]): boolean {
  for (const [i, a] of detections.entries()) {
    if (!matches(a, r.a)) continue;
    for (const [j, b] of detections.entries()) if (i !== j && matches(b, r.b) && holds(r.relation, a, b)) return true;
  }
  return false;
}

/** Fraction of the caption's spatial relations that hold between detected objects. */
export function spatialAgreement(caption: string, detections: Detection[]): number | null {
  const relations = parseCaption(caption).relations;
  if (relations.length === 0) return null;
  return relations.filter((r) => relationHolds(r, detections)).length / relations.length;
}
