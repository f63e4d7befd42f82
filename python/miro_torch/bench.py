"""Training-step throughput of the torch engine on synthetic data, for any preset in configs/models/:
BENCH lines with steps/s, examples/s (per process too) and peak accelerator memory.

  python3 -m miro_torch.bench --preset paper --seconds 150            # one GPU (bf16 autocast), or the CPU
  torchrun --nproc_per_node 8 -m miro_torch.bench --preset paper      # DDP: NCCL on GPUs, gloo on CPUs

Needs only python3 with torch (what the borrowed GPU machines have): no Node.js, no data.
"""
import argparse
import contextlib
import json
import os
import time

import torch

from .network import MiroNet, param_specs
from .train_step import AdamW, flow_loss

HERE = os.path.dirname(os.path.abspath(__file__))
PRESETS = os.path.join(HERE, '..', '..', 'configs', 'models')
REWARDS = ['colourfulness', 'sharpness', 'contrast', 'cleanliness', 'objects', 'counting', 'position']
DEMO_VOCAB_SIZE = 86  # len(DEMO_VOCAB) in src/model/tokenizer.ts; the bench needs only the count


def load_preset(name):
    """configs/models/NAME.yaml (flat `key: value` lines and one `{...}` mapping) as a ModelConfig."""
    cfg = {}
    for line in open(os.path.join(PRESETS, f'{name}.yaml')):
        line = line.split('#')[0].strip()
        if not line or ':' not in line:
            continue
        k, v = line.split(':', 1)
        v = v.strip()
        if v.startswith('{'):
            cfg[k] = {a.strip(): b.strip() for a, b in (p.split(':') for p in v.strip('{}').split(','))}
            cfg[k] = {a: (int(b) if b.isdigit() else b) for a, b in cfg[k].items()}
        elif v in ('true', 'false'):
            cfg[k] = v == 'true'
        else:
            cfg[k] = int(v)
    if cfg['text']['kind'] == 'learned':
        cfg['text']['vocab'] = [f'w{i}' for i in range(DEMO_VOCAB_SIZE)]
    return {**cfg, 'preset': name, 'variant': 'miro', 'rewards': list(REWARDS)}


def init(cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape, (kind, v) in param_specs(cfg):
        out[name] = torch.randn(shape, generator=g) * v if kind == 'std' else torch.full(shape, float(v))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--preset', default='paper')
    ap.add_argument('--batch', type=int, default=0, help='per process (default: 64 on a GPU, 32 on CPU)')
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = ap.parse_args()
    world, rank, local = int(os.environ.get('WORLD_SIZE', '1')), int(os.environ.get('RANK', '0')), int(os.environ.get('LOCAL_RANK', '0'))
    cuda = args.device == 'cuda'
    device = torch.device(f'cuda:{local}' if cuda else 'cpu')
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
    cfg = load_preset(args.preset)
    model = MiroNet(cfg, init(cfg)).to(device)
    net = model
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group('nccl' if cuda else 'gloo')
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if cuda else None)
    o = {'lr': 1e-4, 'min_lr': 1e-5, 'warmup_steps': 10, 'total_steps': 10**6, 'beta1': 0.9, 'beta2': 0.99, 'eps': 1e-8, 'weight_decay': 0.01, 'clip_norm': 1.0, 'ema_decay': 0.9999}
    adam = AdamW(model.named(), o)
    B = args.batch or (64 if cuda else 32)
    S, C, T, R = cfg['image_size'], cfg['channels'], cfg['text']['max_tokens'], len(REWARDS)
    x = torch.randn(B, S, S, C, device=device)
    n = torch.randn_like(x)
    t = torch.rand(B, device=device)
    text = torch.randint(1, DEMO_VOCAB_SIZE, (B, T), device=device) if cfg['text']['kind'] == 'learned' else torch.randn(B, T, cfg['text']['embed_dim'], device=device)
    text_mask, rewards, reward_mask = torch.ones(B, T, device=device), torch.rand(B, R, device=device), torch.ones(B, R, device=device)

    def step(i):
        for p in model.parameters():
            p.grad = None
        with torch.autocast('cuda', dtype=torch.bfloat16) if cuda else contextlib.nullcontext():
            loss = flow_loss(net, x, n, t, text, text_mask, rewards, reward_mask)
        loss.backward()
        adam.apply(i)
        return loss

    for i in range(args.warmup):
        step(i)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        step(args.warmup + steps)
        steps += 1
    if cuda:
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    if rank == 0:
        name = f'miro_torch.{args.preset}'
        params = sum(p.numel() for p in model.parameters())
        print(f'BENCH {name}_steps_per_s {steps / secs:.4g} steps/s')
        print(f'BENCH {name}_examples_per_s {steps * B * world / secs:.4g} examples/s')
        print(f'BENCH {name}_examples_per_s_per_process {steps * B / secs:.4g} examples/s')
        if cuda:
            print(f'BENCH {name}_peak_gpu_memory {torch.cuda.max_memory_allocated(device) / 2**30:.3g} GiB')
        print('# ' + json.dumps({'torch': torch.__version__, 'device': str(device), 'world': world, 'batch_per_process': B, 'params': params, 'bf16': cuda, 'threads': torch.get_num_threads()}))
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main()
