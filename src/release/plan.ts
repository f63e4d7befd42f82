// Which nodes a release reads: the bins node (its `rewards` map names each reward's score node),
// the image source those score nodes read, and the long and short caption nodes.

import type { Pipeline, NodeSpec } from '../dag/pipeline.js';
import type { ColumnRef } from '../stages/types.js';
import { MiroError } from '../errors.js';

export interface ReleaseSources {
  bins: NodeSpec;
  rewards: { name: string; score: ColumnRef }[];
  source: NodeSpec;
  image: ColumnRef;
  caption: ColumnRef | null;
  longCaption: ColumnRef | null;
  shortCaption: ColumnRef | null;
}

function single(pipeline: Pipeline, kind: string, chosen?: string): NodeSpec | undefined {
  const nodes = [...pipeline.nodes.values()].filter((n) => n.stage.kind === kind);
  if (chosen) {
    const n = pipeline.nodes.get(chosen);
    if (!n || n.stage.kind !== kind)
      throw new MiroError(
        `--${kind} ${chosen}: no ${kind} node of that name (${kind} nodes: ${nodes.map((x) => x.name).join(', ') || 'none'})`,
      );
    return n;
  }
  if (nodes.length > 1)
    throw new MiroError(`${pipeline.file} has several ${kind} nodes (${nodes.map((x) => x.name).join(', ')}); choose one with --${kind}`);
  return nodes[0];
}

export function releaseSources(pipeline: Pipeline, opts: { bins?: string } = {}): ReleaseSources {
  const bins = single(pipeline, 'bins', opts.bins);
  if (!bins) throw new MiroError(`${pipeline.file} has no bins node: a release is the scored, binned dataset`);
  const rewards = Object.entries((bins.params as { rewards: Record<string, ColumnRef> }).rewards).map(([name, score]) => ({ name, score }));
  const firstScore = pipeline.nodes.get(rewards[0]!.score.node)!;
  const image = (firstScore.params as { image?: ColumnRef }).image;
  if (!image) throw new MiroError(`reward ${rewards[0]!.name} is read from ${firstScore.name}, which names no image column`);
  const source = pipeline.nodes.get(image.node)!;
  const caption = source.columns.some((c) => c.name === 'caption') ? { node: source.name, column: 'caption' } : null;
  const long = single(pipeline, 'caption');
  const short = single(pipeline, 'short_caption');
  return {
    bins,
    rewards,
    source,
    image,
    caption,
    longCaption: long ? { node: long.name, column: 'caption' } : null,
    shortCaption: short ? { node: short.name, column: 'caption' } : null,
  };
}
