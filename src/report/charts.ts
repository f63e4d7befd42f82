// Charts: a vega-lite spec compiled by vega-lite, rendered to SVG by vega (no canvas), and
// rasterised to PNG by sharp.

import { promises as fs } from 'node:fs';
import path from 'node:path';

export type ChartSpec = Record<string, unknown>;

export async function renderChart(spec: ChartSpec, file: string): Promise<void> {
  const [vega, vl, sharp] = await Promise.all([import('vega'), import('vega-lite'), import('sharp')]);
  const compiled = vl.compile({ $schema: 'https://vega.github.io/schema/vega-lite/v5.json', background: 'white', ...spec } as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG(2);
  view.finalize();
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp.default(Buffer.from(svg)).png().toFile(file);
}

export function histogram(values: { value: number }[], title: string, field = 'value'): ChartSpec {
  return {
    title,
    width: 260,
    height: 140,
    data: { values },
    mark: 'bar',
    encoding: { x: { bin: { maxbins: 40 }, field, type: 'quantitative', title }, y: { aggregate: 'count', title: 'rows' } },
  };
}
