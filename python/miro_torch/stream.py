"""The training stream, as src/train/stream.ts defines it: which rows a rank reads, in which order,
and what a batch holds. Both engines follow the same written-down rules, so a run reads the
same rows in the same order whichever engine trains it:

- A *unit* is one input shard (part-K of the driving node, with the part-K files of every other
  node whose shards line up, or all of that node's files where they do not). The plan lists them.
- Epoch e orders the units by md5("<seed>:<e>:unit:<k>"); rank r of W takes positions r, r+W, ...
- A rank reads its units in windows of `buffer_units`; within a window, training rows (driving
  column present, not held out) are ordered by md5("<id>:<seed>:<e>"), then id. Memory is one
  window, never the dataset.
- Batches are consecutive rows of a window; a window's last partial batch is dropped, and the
  stream runs on into the next window and epoch for as long as training asks.
- The cursor (epoch, window, offset) is all a checkpoint needs to resume the same stream.
- Held out: md5("<id>:holdout:<seed>")'s first 32 bits / 2^32 < holdout.
- Caption per row and epoch: dropped when mulberry32(deriveSeed(seed, "<id>:<e>:drop")) < dropout,
  else real when mulberry32(deriveSeed(seed, "<id>:<e>:caption")) < real_caption_ratio.
"""
import hashlib
import io
import math
import os
import re

import numpy as np

U32 = 0xFFFFFFFF


def load_plan(file):
    """plan.json with its paths (stored relative to the plan's folder) made absolute."""
    import json

    plan = json.load(open(file))
    base = os.path.dirname(os.path.abspath(file))
    at = lambda p: os.path.normpath(os.path.join(base, p))
    plan['dir'], plan['init'] = at(plan['dir']), at(plan['init'])
    plan['data']['units'] = [{n: [at(f) for f in fs] for n, fs in u.items()} for u in plan['data']['units']]
    return plan


def md5hex(s):
    return hashlib.md5(s.encode()).hexdigest()


def held_out(row_id, seed, fraction):
    return int(md5hex(f'{row_id}:holdout:{seed}')[:8], 16) / 4294967296.0 < fraction


def derive_seed(seed, key):
    """src/util/random.ts deriveSeed: FNV-style over the key's UTF-16 code units."""
    h = (seed ^ 0x9E3779B9) & U32
    units = key.encode('utf-16-le')
    for i in range(0, len(units), 2):
        h = ((h ^ (units[i] | units[i + 1] << 8)) * 0x01000193) & U32
    return h


class Rng:
    """src/util/random.ts Rng: mulberry32 steps (whole state one uint32) with Box-Muller normals."""

    def __init__(self, state):
        self.state = state & U32

    def uniform(self):
        self.state = (self.state + 0x6D2B79F5) & U32
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & U32
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & U32)) & U32
        return ((t ^ (t >> 14)) & U32) / 4294967296

    def normals(self, n):
        out = np.empty(n, dtype=np.float32)
        for i in range(n):
            u = max(self.uniform(), 1e-12)
            out[i] = math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * self.uniform())
        return out


def mulberry32_first(seed):
    """The first draw of src/util/random.ts mulberry32(seed), in [0, 1)."""
    return Rng(seed).uniform()


def unit_order(n_units, seed, epoch):
    return sorted(range(n_units), key=lambda k: (md5hex(f'{seed}:{epoch}:unit:{k}'), k))


def rank_windows(plan, rank, world, epoch):
    """The windows (lists of unit indices) rank `rank` of `world` reads in `epoch`."""
    mine = unit_order(len(plan['units']), plan['seed'], epoch)[rank::world]
    w = plan['buffer_units']
    return [mine[i:i + w] for i in range(0, len(mine), w)]


def tokenize(text, vocab_index, T):
    """src/model/tokenizer.ts: lower-cased words and digit runs, unknown words as 1, padded with 0."""
    ids = np.zeros(T, dtype=np.int64)
    for i, w in enumerate(re.findall(r'[a-z]+|[0-9]+', text.lower())[:T]):
        ids[i] = vocab_index.get(w, 1)
    return ids


def pyarrow_reader(plan):
    """Joins each unit's files by id onto the driving node's rows, with pyarrow."""
    import pyarrow.parquet as pq

    columns, driver = plan['columns'], plan['driver']
    by_node = {}
    for as_, ref in columns.items():
        by_node.setdefault(ref['node'], []).append((as_, ref))
    first = columns[driver]['node']

    def read(units):
        out = {}
        for k in units:
            unit = plan['units'][k]
            tables = {}
            for node, refs in by_node.items():
                names = ['id'] + sorted({r['column'] for _, r in refs}) + (['status'] if refs[0][1].get('status') else [])
                tables[node] = pq.read_table(unit[node], columns=names).to_pydict() if unit[node] else {n: [] for n in names}
            rows = {row_id: {'id': row_id} for row_id in tables[first]['id']}
            for node, refs in by_node.items():
                t = tables[node]
                status = t.get('status')
                for i, row_id in enumerate(t['id']):
                    row = rows.get(row_id)
                    if row is not None:
                        for as_, ref in refs:
                            v = t[ref['column']][i] if status is None or status[i] == 'ok' else None
                            row[as_] = v[ref['field']] if v is not None and ref.get('field') else v  # a struct's field (a release's image bytes)
            out.update(rows)
        return list(out.values())

    return read


def node_reader(plan_file, node='node'):
    """The same rows through the project's DuckDB (`miro stream-rows`), where pyarrow is missing."""
    import base64
    import json
    import subprocess

    miro = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bin', 'miro.js')

    def read(units):
        r = subprocess.run([node, miro, 'stream-rows', plan_file, '--units', ','.join(map(str, units))], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f'miro stream-rows failed: {r.stderr.strip()}')
        rows = [json.loads(line) for line in r.stdout.splitlines() if line]
        for row in rows:
            for k, v in row.items():
                if isinstance(v, dict) and 'b64' in v:
                    row[k] = base64.b64decode(v['b64'])
        return rows

    return read


def default_reader(plan, plan_file):
    try:
        import pyarrow.parquet  # noqa: F401

        return pyarrow_reader(plan)
    except ImportError:
        import shutil

        node = os.environ.get('MIRO_NODE') or shutil.which('node')
        if node and plan_file:
            return node_reader(plan_file, node)
        raise SystemExit('the torch engine reads Parquet with pyarrow: pip install pyarrow (or run where Node.js and this repository are, which it then reads through)')


class Stream:
    """One rank's training stream over a plan (the `data` part of plan.json); `read(units)` gives
    the units' rows joined by id (pyarrow_reader or node_reader)."""

    def __init__(self, plan, rank=0, world=1, read=None):
        if world > len(plan['units']):
            raise SystemExit(f"{world} ranks but only {len(plan['units'])} input shards: use fewer ranks or more shards (settings.shards)")
        self.plan, self.rank, self.world = plan, rank, world
        self.read = read or pyarrow_reader(plan)
        self.cursor = {'epoch': 0, 'window': 0, 'offset': 0}
        self._loaded = None  # ((epoch, window), rows)

    def window_rows(self, epoch, window):
        """The window's training rows (driving column present, not held out) in the epoch's order."""
        key = (epoch, window)
        if self._loaded and self._loaded[0] == key:
            return self._loaded[1]
        units = rank_windows(self.plan, self.rank, self.world, epoch)[window]
        seed, holdout, driver = self.plan['seed'], self.plan['holdout'], self.plan['driver']
        rows = [r for r in self.read(units) if r.get(driver) is not None and not held_out(r['id'], seed, holdout)]
        for r in rows:
            for as_ in self.plan['columns']:
                r.setdefault(as_, None)
        rows.sort(key=lambda r: (md5hex(f"{r['id']}:{seed}:{epoch}"), r['id']))
        self._loaded = (key, rows)
        return rows

    def next_rows(self, B):
        """The next B rows of this rank's stream and the epoch they belong to."""
        passed = 0  # windows passed over without a batch
        while True:
            c = self.cursor
            windows = rank_windows(self.plan, self.rank, self.world, c['epoch'])
            if c['window'] >= len(windows):
                self.cursor = {'epoch': c['epoch'] + 1, 'window': 0, 'offset': 0}
                continue
            rows = self.window_rows(c['epoch'], c['window'])
            if c['offset'] + B <= len(rows):
                self.cursor = {**c, 'offset': c['offset'] + B}
                return rows[c['offset']:c['offset'] + B], c['epoch']
            passed += 1
            if passed > 2 * len(windows):
                raise SystemExit(f'rank {self.rank}: no window of its shards holds batch_size={B} training rows; lower batch_size or raise buffer_units')
            self.cursor = {'epoch': c['epoch'], 'window': c['window'] + 1, 'offset': 0}


class Batcher:
    """Turns rows into the network's inputs, as src/train/loader.ts assembles them."""

    def __init__(self, plan, cfg):
        self.plan, self.cfg = plan, cfg
        self.T = cfg['text']['max_tokens']
        text = cfg['text']
        self.vocab = {w: i for i, w in enumerate(text.get('vocab', []))}
        self.rewards = cfg['rewards']

    def caption_choice(self, row_id, epoch):
        seed, p = self.plan['seed'], self.plan
        if p['caption_dropout'] > 0 and mulberry32_first(derive_seed(seed, f'{row_id}:{epoch}:drop')) < p['caption_dropout']:
            return 'dropped'
        return 'real' if mulberry32_first(derive_seed(seed, f'{row_id}:{epoch}:caption')) < p['real_caption_ratio'] else 'synthetic'

    @staticmethod
    def pick(real, synthetic, choice):
        if choice == 'dropped':
            return None
        return (real if real is not None else synthetic) if choice == 'real' else (synthetic if synthetic is not None else real)

    def __call__(self, rows, epoch):
        import torch

        cfg, B, T, R = self.cfg, len(rows), self.T, max(1, len(self.rewards))
        choices = [self.caption_choice(r['id'], epoch) for r in rows]
        text_mask = np.zeros((B, T), dtype=np.float32)
        if cfg['text']['kind'] == 'learned':
            text = np.zeros((B, T), dtype=np.int64)
            for i, (r, ch) in enumerate(zip(rows, choices)):
                ids = tokenize(self.pick(r.get('caption_real'), r.get('caption_synthetic'), ch) or '', self.vocab, T)
                text[i] = ids
                text_mask[i] = (ids != 0).astype(np.float32)
                text_mask[i, 0] = 1
        else:
            E = cfg['text']['embed_dim']
            text = np.zeros((B, T, E), dtype=np.float32)
            for i, (r, ch) in enumerate(zip(rows, choices)):
                blob = self.pick(r.get('text_real'), r.get('text_synthetic'), ch)
                if blob is None:
                    continue
                if len(blob) % (2 * E):
                    raise SystemExit(f"row {r['id']}: text embedding of {len(blob)} bytes is not a whole number of {E}-wide float16 tokens")
                n = min(T, len(blob) // (2 * E))
                text[i, :n] = np.frombuffer(blob, dtype='<f2', count=n * E).reshape(n, E)
                text_mask[i, :n] = 1
        targets = np.zeros((B, R), dtype=np.float32)
        mask = np.zeros((B, R), dtype=np.float32)
        for i, r in enumerate(rows):
            for j, name in enumerate(self.rewards):
                v = r.get(f'target_{name}')
                if v is not None:
                    targets[i, j], mask[i, j] = v, 1
        x = self.latents(rows, epoch) if 'latent_mean' == self.plan['driver'] else self.pixels(rows)
        to = torch.from_numpy
        return {'x': to(x), 'text': to(text), 'text_mask': to(text_mask), 'rewards': to(targets), 'reward_mask': to(mask), 'ids': [r['id'] for r in rows]}

    def pixels(self, rows):
        try:
            from PIL import Image
        except ImportError:
            raise SystemExit('pixel presets need Pillow to decode images (Debian: apt-get install python3-pil; pip install pillow)')
        S = self.cfg['image_size']
        x = np.zeros((len(rows), S, S, 3), dtype=np.float32)
        for i, r in enumerate(rows):
            img = np.asarray(Image.open(io.BytesIO(r['image'])).convert('RGB'), dtype=np.float32)
            if img.shape[:2] != (S, S):
                raise SystemExit(f"row {r['id']}: image is {img.shape[1]}x{img.shape[0]}, the model expects {S}x{S}")
            x[i] = img / 127.5 - 1
        return x

    def latents(self, rows, epoch):
        """mean + std * eps (eps seeded by seed, id and epoch), normalised per channel, channels last."""
        C, h, w = self.plan['latent_shape']
        norm = self.plan['normalization']
        mean_c, std_c = np.array(norm['mean'], np.float32)[:, None, None], np.array(norm['std'], np.float32)[:, None, None]
        x = np.zeros((len(rows), h, w, C), dtype=np.float32)
        for i, r in enumerate(rows):
            z = np.frombuffer(r['latent_mean'], dtype='<f2').astype(np.float32)
            if z.size != C * h * w:
                raise SystemExit(f"row {r['id']}: latent_mean has {z.size} values, expected {C}x{h}x{w}")
            z = z.reshape(C, h, w)
            if r.get('latent_std') is not None:
                s = np.frombuffer(r['latent_std'], dtype='<f2').astype(np.float32).reshape(C, h, w)
                eps = np.random.default_rng(derive_seed(self.plan['seed'], f"{r['id']}:{epoch}:latent")).standard_normal((C, h, w), dtype=np.float32)
                z = z + s * eps
            x[i] = ((z - mean_c) * norm['scale'] / std_c).transpose(1, 2, 0)
        return x
