// A contact sheet: images in a grid, scaled up with nearest-neighbour so small samples stay
// legible, with a title saying what the sheet shows and, under each tile, its prompt.

import { composePng, tilePng, type Layer } from '../util/image.js';

export interface SheetOptions {
  columns?: number;
  scale?: number;
  /** One line above the grid: the model, setting, guidance and targets. */
  title?: string;
  /** Under each tile (wrapped to two lines, cut with an ellipsis). */
  labels?: string[];
}

const FONT = 11;
const LINE = FONT + 2;

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Splits text into at most `lines` lines of at most `width` characters, on spaces. */
export function wrap(text: string, width: number, lines = 2): string[] {
  const all: string[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const last = all.at(-1);
    if (last !== undefined && last.length + 1 + word.length <= width) all[all.length - 1] = `${last} ${word}`;
    else all.push(word.slice(0, width));
  }
  if (all.length <= lines) return all;
  const kept = all.slice(0, lines);
  kept[lines - 1] = `${kept[lines - 1]!.slice(0, width - 1)}…`;
  return kept;
}

export async function contactSheet(images: Float32Array[], size: number, opts: SheetOptions = {}): Promise<Buffer> {
  const columns = opts.columns ?? Math.min(8, images.length);
  const scale = opts.scale ?? 3;
  const tile = size * scale;
  const labelHeight = opts.labels ? 2 * LINE + 4 : 0;
  const cellW = tile + 6;
  const cellH = tile + 6 + labelHeight;
  const rows = Math.max(1, Math.ceil(images.length / columns));
  const width = columns * cellW;
  const titleLines = opts.title ? wrap(opts.title, Math.floor(width / (FONT * 0.7)), 3) : [];
  const titleHeight = titleLines.length ? titleLines.length * LINE + 6 : 0;
  const height = titleHeight + rows * cellH;
  const tiles = await Promise.all(
    images.map(async (img, i) => ({
      input: await tilePng(img, size, tile),
      left: (i % columns) * cellW + 3,
      top: titleHeight + Math.floor(i / columns) * cellH + 3,
    })),
  );
  const text: string[] = [];
  titleLines.forEach((l, k) => text.push(`<text x="4" y="${FONT + 3 + k * LINE}" font-weight="bold">${escapeXml(l)}</text>`));
  const perLine = Math.max(8, Math.floor(tile / (FONT * 0.55)));
  opts.labels?.slice(0, images.length).forEach((label, i) => {
    const x = (i % columns) * cellW + 3;
    const y = titleHeight + Math.floor(i / columns) * cellH + tile + 3 + FONT;
    wrap(label, perLine).forEach((l, k) => text.push(`<text x="${x}" y="${y + k * LINE}">${escapeXml(l)}</text>`));
  });
  const layers: Layer[] = [...tiles];
  if (text.length) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="${FONT}" fill="#222">${text.join('')}</svg>`;
    layers.unshift({ input: Buffer.from(svg), left: 0, top: 0 });
  }
  return composePng(width, height, layers);
}
