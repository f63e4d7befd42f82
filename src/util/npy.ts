// NumPy's .npy format (version 1.0) for the arrays webdataset samples carry: a magic string, a
// header dict padded to 64 bytes, then the raw little-endian data.

export function npy(data: Uint8Array, dtype: '<f2' | '<f4', shape: number[]): Uint8Array {
  const width = dtype === '<f2' ? 2 : 4;
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count * width) throw new Error(`npy: ${data.length} bytes for shape (${shape.join(', ')}) of ${dtype}`);
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${dims}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, ...Buffer.from('NUMPY', 'ascii'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(data, 10 + header.length);
  return out;
}
