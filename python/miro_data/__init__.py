"""A MIRO run and its releases from Python: the committed rows of a node, a release checked against
its manifest, and a trained model in PyTorch.

    import sys; sys.path.insert(0, 'python')
    from miro_data import committed_parts, read_node, read_release, load_model
    scores = read_node('data/demo/score_colourfulness')           # a pyarrow Table, committed parts only
    rows = read_release('releases/shapes-v1')                      # sha256-checked against release.json
    model, cfg = load_model('data/demo/train_miro')                # MiroNet with the EMA weights, eval mode

A node's folder holds `part-<shard>.parquet` files, each committed by `_done/<shard>.json` (its
rows, bytes and sha256); a part without a marker is an interrupted write and is never read.
Reading Parquet needs pyarrow (`pip install pyarrow`); the markers and the model need only the
standard library, NumPy and PyTorch (Debian's python3-torch).
"""
import glob
import hashlib
import json
import os

__all__ = ['committed_parts', 'read_node', 'read_release', 'load_model', 'MiroDataError']


class MiroDataError(Exception):
    """A folder that is not what it claims: a missing marker, a part whose size or hash disagrees."""


def _pyarrow():
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # Debian packages no pyarrow
        raise MiroDataError('reading Parquet needs pyarrow: pip install pyarrow') from err
    return pq


def committed_parts(node_dir):
    """The node's committed part files, by shard: those whose marker exists and whose size matches it."""
    out = []
    for marker in sorted(glob.glob(os.path.join(node_dir, '_done', '*.json'))):
        with open(marker) as f:
            m = json.load(f)
        part = os.path.join(node_dir, f"part-{m['shard']:05d}.parquet")
        size = os.path.getsize(part) if os.path.exists(part) else None
        if size != m['bytes']:
            raise MiroDataError(f"{part}: {'missing' if size is None else f'{size} bytes'}, its marker says {m['bytes']}: run `miro run --verify`")
        out.append(part)
    return out


def read_node(node_dir, columns=None):
    """The node's committed rows as one pyarrow Table (parts in shard order; each part is sorted by id)."""
    pq = _pyarrow()
    parts = committed_parts(node_dir)
    if not parts:
        raise MiroDataError(f'{node_dir}: no committed part (has the node run? `miro status` says)')
    import pyarrow as pa

    return pa.concat_tables([pq.read_table(p, columns=columns) for p in parts])


def _sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def read_release(release_dir, columns=None, verify=True):
    """A Parquet release's rows as a pyarrow Table; with verify, every data file's sha256 is checked
    against release.json first (as `miro verify` does, without its row checks)."""
    with open(os.path.join(release_dir, 'release.json')) as f:
        manifest = json.load(f)
    if manifest.get('layout') == 'webdataset':
        raise MiroDataError(f'{release_dir}: webdataset tar shards; read them with webdataset, not as Parquet')
    files = [r for r in manifest['files'] if r['path'].startswith('data/')]
    for r in files if verify else []:
        got = _sha256(os.path.join(release_dir, r['path']))
        if got != r['sha256']:
            raise MiroDataError(f"{r['path']}: sha256 {got[:16]}..., release.json says {r['sha256'][:16]}...")
    pq = _pyarrow()
    import pyarrow as pa

    return pa.concat_tables([pq.read_table(os.path.join(release_dir, r['path']), columns=columns) for r in files])


def load_model(train_node_dir, which='ema'):
    """A train node's model as the torch engine's MiroNet (the TypeScript network, parameter for
    parameter), with its EMA weights (or `which='model'` for the raw ones), in eval mode. Returns
    (model, config)."""
    from miro_torch import safetensors_io
    from miro_torch.network import MiroNet

    for folder in ('_model', 'model'):  # model/ is where versions before the _ prefix wrote it
        model_dir = os.path.join(train_node_dir, folder)
        if os.path.exists(os.path.join(model_dir, 'config.json')):
            break
    else:
        model_dir = train_node_dir  # the model folder itself
    cfg_file = os.path.join(model_dir, 'config.json')
    if not os.path.exists(cfg_file):
        raise MiroDataError(f'{train_node_dir}: no trained model (no _model/config.json)')
    with open(cfg_file) as f:
        cfg = json.load(f)
    cfg.pop('metadata', None)  # what the run recorded about itself, not the network's shape
    params, _ = safetensors_io.load(os.path.join(model_dir, f'{which}.safetensors'))
    return MiroNet(cfg, params).eval(), cfg
