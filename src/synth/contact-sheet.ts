// A contact sheet: images in a grid, scaled up with nearest-neighbour so small samples stay legible.

import sharp from 'sharp';

export async function contactSheet(images: Float32Array[], size: number, opts: { columns?: number; scale?: number } = {}): Promise<Buffer> {
  const columns = opts.columns ?? Math.min(8, images.length);
  const scale = opts.scale ?? 3;
  const cell = size * scale + 2;
  const rows = Math.max(1, Math.ceil(images.length / columns));
  const tiles = await Promise.all(
    images.map(async (img, i) => ({
      input: await sharp(Buffer.from(Uint8ClampedArray.from(img, (v) => Math.round(v)).buffer), {
        raw: { width: size, height: size, channels: 3 },
      })
        .resize(size * scale, size * scale, { kernel: 'nearest' })
        .png()
        .toBuffer(),
      left: (i % columns) * cell + 1,
      top: Math.floor(i / columns) * cell + 1,
    })),
  );
  return sharp({ create: { width: columns * cell, height: rows * cell, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(tiles)
    .png()
    .toBuffer();
}
