"""safetensors without the package: an 8-byte little-endian header length, a JSON header of
{name: {dtype, shape, data_offsets}}, then raw little-endian bytes (as src/model/safetensors.ts)."""
import json
import struct

import numpy as np
import torch

_DTYPES = {'F32': np.float32, 'F16': np.float16, 'I32': np.int32, 'I64': np.int64}


def load(path):
    """Returns ({name: float tensor}, metadata)."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop('__metadata__', {})
    out = {}
    for name, h in header.items():
        a, b = h['data_offsets']
        arr = np.frombuffer(data, dtype=_DTYPES[h['dtype']], count=(b - a) // np.dtype(_DTYPES[h['dtype']]).itemsize, offset=8 + n + a)
        out[name] = torch.from_numpy(arr.reshape(h['shape']).copy())
    return out, meta


def save(path, tensors, metadata=None):
    """Writes F32 tensors in name order, data aligned to 8 bytes, as the TypeScript writer does."""
    names = sorted(tensors)
    header = {'__metadata__': metadata or {}}
    blobs, offset = [], 0
    for name in names:
        b = tensors[name].detach().to(torch.float32).contiguous().cpu().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(',', ':'))
    js += ' ' * ((8 - len(js) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)))
        f.write(js.encode())
        for b in blobs:
            f.write(b)
