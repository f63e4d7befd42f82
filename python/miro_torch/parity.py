"""Parity checks between the two engines, driven by test/torch-parity.test.ts.

  python3 -m miro_torch.parity forward CONFIG.json WEIGHTS.safetensors IO.safetensors
      prints {"max_abs_diff": ...} between this forward pass and IO's `expected`
  [torchrun --nproc_per_node K] python3 -m miro_torch.parity train CONFIG.json WEIGHTS.safetensors BATCHES.safetensors OPTIM.json OUT
      replays the batches (x_i, n_i, t_i, text_i, text_mask_i, rewards_i, reward_mask_i for step i),
      each rank taking its contiguous share of every batch, with gradients averaged by DDP (gloo on
      CPU); rank 0 writes OUT.safetensors (weights) and OUT.json (losses).
"""
import json
import os
import sys

import torch

from . import safetensors_io
from .network import MiroNet
from .train_step import AdamW, flow_loss

INPUTS = ('x', 't', 'text', 'text_mask', 'rewards', 'reward_mask')


def _model(config, weights):
    cfg = json.load(open(config))
    params, _ = safetensors_io.load(weights)
    return cfg, MiroNet(cfg, params)


def forward(config, weights, io):
    cfg, model = _model(config, weights)
    t, _ = safetensors_io.load(io)
    with torch.no_grad():
        out = model(*[t[k] for k in INPUTS])
    print(json.dumps({'max_abs_diff': float((out - t['expected']).abs().max()), 'max_abs': float(t['expected'].abs().max())}))


def train(config, weights, batches, optim, out):
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    torch.set_num_threads(1)
    cfg, model = _model(config, weights)
    net = model
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group('gloo')
        net = torch.nn.parallel.DistributedDataParallel(model)
    b, _ = safetensors_io.load(batches)
    o = json.load(open(optim))
    adam = AdamW(model.named(), o)
    steps = len([k for k in b if k.startswith('x_')])
    losses = []
    for step in range(steps):
        full = {k: b[f'{k}_{step}'] for k in ('x', 'n', 't', 'text', 'text_mask', 'rewards', 'reward_mask')}
        B = full['x'].shape[0]
        lo, hi = rank * B // world, (rank + 1) * B // world
        part = {k: v[lo:hi] for k, v in full.items()}
        for p in model.parameters():
            p.grad = None
        loss = flow_loss(net, part['x'], part['n'], part['t'], part['text'], part['text_mask'], part['rewards'], part['reward_mask'])
        loss.backward()  # DDP averages the gradients over ranks: the full batch's mean loss
        if world > 1:
            total = loss.detach().clone()
            torch.distributed.all_reduce(total)
            loss = total / world
        adam.apply(step)
        losses.append(float(loss))
    if rank == 0:
        safetensors_io.save(out + '.safetensors', {k: p for k, p in model.named().items()})
        json.dump({'losses': losses}, open(out + '.json', 'w'))
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    cmd, *args = sys.argv[1:]
    {'forward': forward, 'train': train}[cmd](*args)
