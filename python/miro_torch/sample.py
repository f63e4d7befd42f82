"""The torch engine's sampler, src/model/sampler.ts step for step: Euler on a uniform grid from
noise (t = 1) to data (t = 0), v_hat = v(s+) + w (v(s+) - v(s-)), each sample's noise from
(seed, index) through the same generator as the TypeScript sampler, so a model gives the same
images in either engine (pixel models; latent models need their frozen VAE and text encoder).

  python3 -m miro_torch.sample MODEL_DIR REQUEST.json OUT.safetensors

MODEL_DIR is a train node's model/ folder (config.json, ema.safetensors). REQUEST.json:
{captions, positive, negative (or null), guidance, negative_caption: "same" | "empty", steps,
seed, offset}. OUT gets `images`, [B, S, S, 3] on the 0-255 scale, unrounded.
"""
import json
import os
import sys

import numpy as np
import torch

from . import safetensors_io
from .network import MiroNet
from .stream import Rng, derive_seed, tokenize

def inputs(cfg, captions, targets):
    T, R = cfg['text']['max_tokens'], max(1, len(cfg['rewards']))
    vocab = {w: i for i, w in enumerate(cfg['text']['vocab'])}
    text = torch.from_numpy(np.stack([tokenize(c, vocab, T) for c in captions]))
    mask = (text != 0).float()
    mask[:, 0] = 1
    rewards, rmask = torch.zeros(len(targets), R), torch.zeros(len(targets), R)
    for i, row in enumerate(targets):
        for j in range(len(cfg['rewards'])):
            if j < len(row) and row[j] is not None:
                rewards[i, j], rmask[i, j] = row[j], 1
    return text, mask, rewards, rmask


@torch.no_grad()
def sample(model, cfg, req):
    if cfg['text']['kind'] != 'learned':
        raise SystemExit('this sampler draws pixel models; latent models sample through their frozen VAE (miro sample)')
    B, S, C = len(req['captions']), cfg['image_size'], cfg['channels']
    per = S * S * C
    offset = req.get('offset', 0)
    x = torch.from_numpy(np.stack([Rng(derive_seed(req['seed'], f'noise-{offset + i}')).normals(per) for i in range(B)])).reshape(B, S, S, C)
    guided = req.get('negative') is not None and req['guidance'] != 0
    captions = req['captions'] + ((['' for _ in req['captions']] if req['negative_caption'] == 'empty' else req['captions']) if guided else [])
    targets = req['positive'] + (req['negative'] if guided else [])
    text, mask, rewards, rmask = inputs(cfg, captions, targets)
    dt = 1 / req['steps']
    for i in range(req['steps']):
        t = 1 - i * dt
        xin = torch.cat([x, x]) if guided else x
        v = model(xin, torch.full((xin.shape[0],), t), text, mask, rewards, rmask)
        if guided:
            v = v[:B] + (v[:B] - v[B:]) * req['guidance']
        x = x - v * dt
    return ((x + 1) * 127.5).clamp(0, 255)


def main(model_dir, request, out):
    cfg = json.load(open(os.path.join(model_dir, 'config.json')))
    cfg.pop('metadata', None)
    params, _ = safetensors_io.load(os.path.join(model_dir, 'ema.safetensors'))
    torch.set_num_threads(1)
    images = sample(MiroNet(cfg, params).eval(), cfg, json.load(open(request)))
    safetensors_io.save(out, {'images': images})


if __name__ == '__main__':
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
