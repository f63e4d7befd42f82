// safetensors: an 8-byte little-endian header length, a JSON header of
// {name: {dtype, shape, data_offsets}}, then raw little-endian tensor bytes. Never pickle.

import { promises as fs } from 'node:fs';
import { StoreError } from '../errors.js';

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

export function encodeSafetensors(tensors: Map<string, NamedArray>, metadata: Record<string, string> = {}): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const n of names) {
    const bytes = tensors.get(n)!.data.byteLength;
    header[n] = { dtype: 'F32', shape: tensors.get(n)!.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // align the data to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const n of names) {
    const d = tensors.get(n)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at); // Float32Array is little-endian here
    at += d.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, file: string): { tensors: Map<string, NamedArray>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new StoreError(`${file}: too short to be safetensors`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + n > bytes.length) throw new StoreError(`${file}: header length ${n} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    throw new StoreError(`${file}: corrupt safetensors header (${(err as Error).message})`);
  }
  const base = 8 + n;
  const tensors = new Map<string, NamedArray>();
  let metadata: Record<string, string> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = h as unknown as Record<string, string>;
      continue;
    }
    if (h.dtype !== 'F32') throw new StoreError(`${file}: tensor ${name} is ${h.dtype}; only F32 is supported`);
    const [a, b] = h.data_offsets;
    if (base + b > bytes.length || b - a !== 4 * h.shape.reduce((x, y) => x * y, 1))
      throw new StoreError(`${file}: tensor ${name} has bad offsets`);
    const copy = bytes.slice(base + a, base + b);
    tensors.set(name, { shape: h.shape, data: new Float32Array(copy.buffer, copy.byteOffset, (b - a) / 4) });
  }
  return { tensors, metadata };
}

export async function readSafetensors(file: string): Promise<{ tensors: Map<string, NamedArray>; metadata: Record<string, string> }> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    throw new StoreError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), file);
}
